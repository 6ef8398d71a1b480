/* Public C API of the miniature LLVM used by the mini rustc fixture. */
#ifndef LLVM_C_MINI_H
#define LLVM_C_MINI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  LLVMMiniNop = 0, LLVMMiniConst = 1, LLVMMiniMov = 2, LLVMMiniParam = 3,
  LLVMMiniAdd = 10, LLVMMiniSub, LLVMMiniMul, LLVMMiniDiv, LLVMMiniRem,
  LLVMMiniAnd, LLVMMiniOr, LLVMMiniXor, LLVMMiniShl, LLVMMiniShr,
  LLVMMiniEq = 20, LLVMMiniNe, LLVMMiniLt, LLVMMiniLe, LLVMMiniGt, LLVMMiniGe,
  LLVMMiniNeg = 30, LLVMMiniNot, LLVMMiniBNot,
  LLVMMiniLabel = 40, LLVMMiniJmp, LLVMMiniBr, LLVMMiniRetV, LLVMMiniRet,
  LLVMMiniArg, LLVMMiniCall, LLVMMiniTrap
} LLVMMiniOpcode;

/* Must match `Inst` in rustc_driver's llvm.rs. */
typedef struct {
  int32_t op;
  int32_t dst;
  int64_t a, b, c;
} LLVMMiniInst;

typedef struct LLVMMiniModule *LLVMMiniModuleRef;

const char *LLVMMiniVersionString(void);
unsigned LLVMMiniVersionMajor(void);
unsigned LLVMMiniVersionMinor(void);
LLVMMiniModuleRef LLVMMiniModuleCreate(const char *name);
size_t LLVMMiniAddFunction(LLVMMiniModuleRef m, const char *name, const LLVMMiniInst *insts, size_t n,
                           int32_t nvregs, int32_t nparams);
int LLVMMiniRunPasses(LLVMMiniModuleRef m, int opt_level);
size_t LLVMMiniGetFunctionCode(LLVMMiniModuleRef m, size_t idx, const uint8_t **out);
void LLVMMiniGetStats(LLVMMiniModuleRef m, uint64_t stats[8]);
void LLVMMiniModuleDispose(LLVMMiniModuleRef m);

#ifdef __cplusplus
}
#endif
#endif
