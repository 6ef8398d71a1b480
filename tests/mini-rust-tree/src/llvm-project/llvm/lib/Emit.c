/* Machine-code emission: a compact byte encoding of the allocated instructions. */
#include "MiniInternal.h"

static void put_byte(MiniFunc *f, uint8_t b) {
  if (f->code_len == f->code_cap) {
    f->code_cap = f->code_cap ? f->code_cap * 2 : 256;
    f->code = realloc(f->code, f->code_cap);
  }
  f->code[f->code_len++] = b;
}

static void put_uleb(MiniFunc *f, uint64_t v) {
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    if (v)
      b |= 0x80;
    put_byte(f, b);
  } while (v);
}

static void put_sleb(MiniFunc *f, int64_t v) { put_uleb(f, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63)); }

static void put_reg(MiniFunc *f, int64_t vreg) {
  if (vreg < 0 || vreg >= f->nvregs) {
    put_byte(f, 0xff);
    return;
  }
  int32_t c = f->color[vreg];
  if (c < MINI_NUM_REGS) {
    put_byte(f, (uint8_t)(0x80 | c));
  } else {
    put_byte(f, 0x00);
    put_uleb(f, (uint64_t)(c - MINI_NUM_REGS) * 8);
  }
}

void mini_emit_function(MiniFunc *f, uint64_t *stats) {
  free(f->code);
  f->code = NULL;
  f->code_len = f->code_cap = 0;
  /* Prologue: frame size and parameter count. */
  put_uleb(f, (uint64_t)f->nspill * 8);
  put_uleb(f, (uint64_t)f->nparams);
  for (size_t b = 0; b < f->nblocks; b++) {
    for (size_t i = f->bstart[b]; i < f->bend[b]; i++) {
      LLVMMiniInst *in = &f->insts[i];
      int op = in->op;
      if (op == LLVMMiniNop)
        continue;
      /* A copy into the same location is free. */
      if (op == LLVMMiniMov && in->dst >= 0 && in->a >= 0 && in->a < f->nvregs &&
          f->color[in->dst] == f->color[in->a])
        continue;
      put_byte(f, (uint8_t)op);
      switch (op) {
      case LLVMMiniConst:
        put_reg(f, in->dst);
        put_sleb(f, in->a);
        break;
      case LLVMMiniParam:
        put_reg(f, in->dst);
        put_uleb(f, (uint64_t)in->a);
        break;
      case LLVMMiniLabel:
      case LLVMMiniJmp:
        put_uleb(f, (uint64_t)in->a);
        break;
      case LLVMMiniBr:
        put_reg(f, in->a);
        put_uleb(f, (uint64_t)in->b);
        put_uleb(f, (uint64_t)in->c);
        break;
      case LLVMMiniRetV:
      case LLVMMiniArg:
        put_reg(f, in->a);
        break;
      case LLVMMiniCall:
        put_sleb(f, in->a);
        put_uleb(f, (uint64_t)in->b);
        for (int64_t k = 0; k < in->b; k++)
          put_reg(f, in->dst + k);
        break;
      case LLVMMiniRet:
      case LLVMMiniTrap:
        break;
      default:
        put_reg(f, in->dst);
        put_reg(f, in->a);
        if (mini_is_binary(op))
          put_reg(f, in->b);
        break;
      }
    }
  }
  /* Trailer: FNV-1a checksum of the body. */
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < f->code_len; i++) {
    h ^= f->code[i];
    h *= 16777619u;
  }
  for (int k = 0; k < 4; k++)
    put_byte(f, (uint8_t)(h >> (8 * k)));
  stats[STAT_BYTES] += f->code_len;
}
