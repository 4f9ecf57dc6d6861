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

// Moves `blocks` (a single-entry region of one function) into a new function whose inputs
// and outputs are passed in one struct (its pointer is the only argument), and replaces them
// with a call.  The struct is allocated in `alloc_block` (the caller's entry block), so the
// call site can pass its address on to the OpenMP runtime.  Returns the new function, or
// null when LLVM refuses the region (then nothing was changed).
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
  CodeExtractor extractor(bbs, &dt, /*AggregateArgs=*/true, /*BFI=*/nullptr,
                          /*BPI=*/nullptr, /*AC=*/nullptr, /*AllowVarArgs=*/false,
                          /*AllowAlloca=*/true, unwrap(alloc_block), std::string(suffix));
  if (!extractor.isEligible())
    return nullptr;
  CodeExtractorAnalysisCache cache(parent);
  Function *outlined = extractor.extractCodeRegion(cache);
  return wrap(outlined);
}

}  // extern "C"
