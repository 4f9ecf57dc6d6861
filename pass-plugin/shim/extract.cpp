// The pieces of LLVM's C++ API the pass needs that the C API lacks: CodeExtractor, and
// LoopInfo for the loops `simd` marks. Kept deliberately tiny; everything OpenMP-specific
// stays in Rust.  Never throws (LLVM is
// built without exceptions) and reports failure through the return value.
#include "llvm/Analysis/LoopInfo.h"
#include "llvm/IR/BasicBlock.h"
#include "llvm/IR/Dominators.h"
#include "llvm/IR/Function.h"
#include "llvm/Transforms/Utils/CodeExtractor.h"
#include "llvm/Transforms/Utils/LoopUtils.h"
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

extern "C" {

// Gives the innermost loop around each of `blocks` (all in one function) the loop
// attribute `llvm.loop.vectorize.enable` (on its latches' branches, merged with any loop
// metadata already there), as Clang does for `omp simd`, when no loop is nested in it:
// LLVM's vectoriser only takes innermost loops, and warns about a forced loop it left.
// Returns how many loops it marked.
unsigned pyomp_mark_vectorize(LLVMBasicBlockRef *blocks, unsigned count) {
  if (count == 0)
    return 0;
  Function &parent = *unwrap(blocks[0])->getParent();
  DominatorTree dt(parent);
  LoopInfo loops(dt);
  unsigned marked = 0;
  for (unsigned i = 0; i < count; ++i) {
    Loop *loop = loops.getLoopFor(unwrap(blocks[i]));
    if (loop != nullptr && loop->isInnermost()) {
      addStringMetadataToLoop(loop, "llvm.loop.vectorize.enable", 1);
      ++marked;
    }
  }
  return marked;
}

}  // extern "C"
