/* Internal data structures shared by the mini LLVM passes. */
#ifndef MINI_INTERNAL_H
#define MINI_INTERNAL_H

#include "llvm-c/Mini.h"
#include <stdlib.h>
#include <string.h>

#define MINI_NUM_REGS 12

enum { STAT_FOLDED, STAT_CSE, STAT_COPIES, STAT_DCE, STAT_DEAD_BLOCKS, STAT_SPILLS, STAT_BYTES, STAT_ROUNDS };

typedef struct {
  char *name;
  LLVMMiniInst *insts;
  size_t n;
  int32_t nvregs, nparams;
  /* control-flow graph */
  size_t nblocks;
  size_t *bstart, *bend;
  int32_t *succ; /* two per block, -1 when absent */
  int32_t *label_block;
  int64_t nlabels;
  /* liveness, one bitset of `words` words per block */
  size_t words;
  uint64_t *live_in, *live_out, *use, *def;
  /* register assignment: < MINI_NUM_REGS is a register, otherwise a spill slot */
  int32_t *color;
  int32_t nspill;
  uint8_t *code;
  size_t code_len, code_cap;
} MiniFunc;

struct LLVMMiniModule {
  char *name;
  MiniFunc *fns;
  size_t nfns, cap;
  uint64_t stats[8];
};

void *mini_xmalloc(size_t n);
void *mini_xcalloc(size_t n, size_t sz);

int mini_is_binary(int op);
int mini_is_unary(int op);
int mini_is_pure(int op);
int mini_is_terminator(int op);
int mini_uses(const LLVMMiniInst *in, int32_t out[2]);
int mini_defs(const LLVMMiniInst *in, int32_t *first);

void mini_build_cfg(MiniFunc *f);
void mini_free_cfg(MiniFunc *f);
void mini_liveness(MiniFunc *f);
void mini_free_liveness(MiniFunc *f);
size_t mini_fold_constants(MiniFunc *f, uint64_t *stats);
size_t mini_copy_propagate(MiniFunc *f, uint64_t *stats);
size_t mini_local_cse(MiniFunc *f, uint64_t *stats);
size_t mini_eliminate_dead_code(MiniFunc *f, uint64_t *stats);
size_t mini_simplify_cfg(MiniFunc *f, uint64_t *stats);
void mini_compact(MiniFunc *f);

void mini_regalloc_greedy(MiniFunc *f, uint64_t *stats);
void mini_regalloc_spill_all(MiniFunc *f, uint64_t *stats);
void mini_emit_function(MiniFunc *f, uint64_t *stats);

#endif
