/* Module/function storage, opcode properties and the public entry points. */
#include "MiniInternal.h"
#include <stdio.h>

#define MINI_STR2(x) #x
#define MINI_STR(x) MINI_STR2(x)

/* The mini LLVM reports the version of the clang that built it. */
#ifdef __clang__
#define MINI_VERSION_MAJOR __clang_major__
#define MINI_VERSION_MINOR __clang_minor__
#define MINI_VERSION_PATCH __clang_patchlevel__
#else
#define MINI_VERSION_MAJOR 0
#define MINI_VERSION_MINOR 0
#define MINI_VERSION_PATCH 0
#endif

const char *LLVMMiniVersionString(void) {
  return MINI_STR(MINI_VERSION_MAJOR) "." MINI_STR(MINI_VERSION_MINOR) "." MINI_STR(MINI_VERSION_PATCH);
}
unsigned LLVMMiniVersionMajor(void) { return MINI_VERSION_MAJOR; }
unsigned LLVMMiniVersionMinor(void) { return MINI_VERSION_MINOR; }

void *mini_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "LLVM ERROR: out of memory\n");
    abort();
  }
  return p;
}

void *mini_xcalloc(size_t n, size_t sz) {
  void *p = calloc(n ? n : 1, sz ? sz : 1);
  if (!p) {
    fprintf(stderr, "LLVM ERROR: out of memory\n");
    abort();
  }
  return p;
}

static char *mini_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = mini_xmalloc(n);
  memcpy(p, s, n);
  return p;
}

int mini_is_binary(int op) { return op >= LLVMMiniAdd && op <= LLVMMiniGe; }
int mini_is_unary(int op) { return op == LLVMMiniMov || (op >= LLVMMiniNeg && op <= LLVMMiniBNot); }
int mini_is_pure(int op) {
  return op == LLVMMiniConst || op == LLVMMiniParam || mini_is_binary(op) || mini_is_unary(op);
}
int mini_is_terminator(int op) {
  return op == LLVMMiniJmp || op == LLVMMiniBr || op == LLVMMiniRet || op == LLVMMiniTrap;
}

/* Registers read by an instruction. */
int mini_uses(const LLVMMiniInst *in, int32_t out[2]) {
  int op = in->op;
  if (mini_is_binary(op)) {
    out[0] = (int32_t)in->a;
    out[1] = (int32_t)in->b;
    return 2;
  }
  if (mini_is_unary(op) || op == LLVMMiniBr || op == LLVMMiniRetV || op == LLVMMiniArg) {
    out[0] = (int32_t)in->a;
    return 1;
  }
  return 0;
}

/* Registers written by an instruction: `*first` and the following ones. */
int mini_defs(const LLVMMiniInst *in, int32_t *first) {
  int op = in->op;
  *first = in->dst;
  if (mini_is_pure(op))
    return 1;
  if (op == LLVMMiniCall)
    return (int)in->b;
  return 0;
}

LLVMMiniModuleRef LLVMMiniModuleCreate(const char *name) {
  LLVMMiniModuleRef m = mini_xcalloc(1, sizeof(*m));
  m->name = mini_strdup(name ? name : "");
  return m;
}

size_t LLVMMiniAddFunction(LLVMMiniModuleRef m, const char *name, const LLVMMiniInst *insts, size_t n,
                           int32_t nvregs, int32_t nparams) {
  if (m->nfns == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 16;
    m->fns = realloc(m->fns, m->cap * sizeof(MiniFunc));
  }
  MiniFunc *f = &m->fns[m->nfns];
  memset(f, 0, sizeof(*f));
  f->name = mini_strdup(name ? name : "");
  f->insts = mini_xmalloc(n * sizeof(LLVMMiniInst));
  memcpy(f->insts, insts, n * sizeof(LLVMMiniInst));
  f->n = n;
  f->nvregs = nvregs;
  f->nparams = nparams;
  return m->nfns++;
}

static void optimize_function(MiniFunc *f, uint64_t *stats) {
  for (int round = 0; round < 6; round++) {
    size_t changed = 0;
    mini_build_cfg(f);
    changed += mini_fold_constants(f, stats);
    changed += mini_copy_propagate(f, stats);
    changed += mini_local_cse(f, stats);
    changed += mini_simplify_cfg(f, stats);
    mini_compact(f);
    mini_free_cfg(f);
    mini_build_cfg(f);
    mini_liveness(f);
    changed += mini_eliminate_dead_code(f, stats);
    mini_free_liveness(f);
    mini_free_cfg(f);
    mini_compact(f);
    stats[STAT_ROUNDS]++;
    if (!changed)
      break;
  }
}

int LLVMMiniRunPasses(LLVMMiniModuleRef m, int opt_level) {
  for (size_t i = 0; i < m->nfns; i++) {
    MiniFunc *f = &m->fns[i];
    if (f->n == 0 || f->insts[0].op != LLVMMiniLabel)
      return 1;
    if (opt_level > 0)
      optimize_function(f, m->stats);
    mini_build_cfg(f);
    mini_liveness(f);
    if (opt_level > 0)
      mini_regalloc_greedy(f, m->stats);
    else
      mini_regalloc_spill_all(f, m->stats);
    mini_emit_function(f, m->stats);
    mini_free_liveness(f);
    mini_free_cfg(f);
  }
  return 0;
}

size_t LLVMMiniGetFunctionCode(LLVMMiniModuleRef m, size_t idx, const uint8_t **out) {
  if (idx >= m->nfns) {
    *out = NULL;
    return 0;
  }
  *out = m->fns[idx].code;
  return m->fns[idx].code_len;
}

void LLVMMiniGetStats(LLVMMiniModuleRef m, uint64_t stats[8]) { memcpy(stats, m->stats, sizeof(m->stats)); }

void LLVMMiniModuleDispose(LLVMMiniModuleRef m) {
  if (!m)
    return;
  for (size_t i = 0; i < m->nfns; i++) {
    MiniFunc *f = &m->fns[i];
    free(f->name);
    free(f->insts);
    free(f->color);
    free(f->code);
  }
  free(m->fns);
  free(m->name);
  free(m);
}
