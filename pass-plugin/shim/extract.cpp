// The one piece of LLVM's C++ API the pass needs that the C API lacks: CodeExtractor.
// Kept deliberately tiny; everything OpenMP-specific stays in Rust.  Never throws (LLVM is
// built without exceptions) and reports failure through the return value.
#include "llvm/IR/BasicBlock.h"
#include "llvm/IR/Dominators.h"
#include "llvm/IR/Function.h"
#include "llvm/Transforms/Utils/CodeExtractor.h"
#include "llvm-c/Core.h"

#include <string>
#include <vector>

using namespace llvm;

extern "C" {

// Moves `blocks` (a single-entry region of one function) into a new function taking the
// region's inputs as parameters, and replaces them with a call to it.  Allocations the
// extractor needs go in `alloc_block`.  Returns the new function, or null when LLVM refuses
// the region (then nothing was changed).
// (AggregateArgs=true crashes inside LLVM 19.1.7's CodeExtractor on opaque-pointer IR, so
// the Rust side packs the arguments into a struct itself.)
LLVMValueRef pyomp_extract_region(LLVMBasicBlockRef *blocks, unsigned count,
                                  LLVMBasicBlockRef alloc_block, const char *suffix) {
  std::vector<BasicBlock *> bbs;
  bbs.reserve(count);
  for (unsigned i = 0; i < count; ++i)
    bbs.push_back(unwrap(blocks[i]));
  if (bbs.empty())
    return nullptr;
  Function &parent = *bbs.front()->getParent();
  DominatorTree dt(parent);
  CodeExtractor extractor(bbs, &dt, /*AggregateArgs=*/false, /*BFI=*/nullptr,
                          /*BPI=*/nullptr, /*AC=*/nullptr, /*AllowVarArgs=*/false,
                          /*AllowAlloca=*/true, unwrap(alloc_block), std::string(suffix));
  if (!extractor.isEligible())
    return nullptr;
  CodeExtractorAnalysisCache cache(parent);
  Function *outlined = extractor.extractCodeRegion(cache);
  return wrap(outlined);
}

}  // extern "C"

extern "C" {

// Splits the block of `inst` so that `inst` starts a new block (LLVM's splitBasicBlock:
// the old block ends in a branch to the new one; successors' PHIs are updated).
LLVMBasicBlockRef pyomp_split_block_before(LLVMValueRef inst, const char *name) {
  Instruction *I = unwrap<Instruction>(inst);
  return wrap(I->getParent()->splitBasicBlock(I, name));
}

}  // extern "C"
