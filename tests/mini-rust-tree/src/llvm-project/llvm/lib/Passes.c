/* Analyses and scalar optimizations over the mini IR. */
#include "MiniInternal.h"

#define BIT_SET(bs, i) ((bs)[(i) >> 6] |= (1ULL << ((i)&63)))
#define BIT_CLR(bs, i) ((bs)[(i) >> 6] &= ~(1ULL << ((i)&63)))
#define BIT_GET(bs, i) (((bs)[(i) >> 6] >> ((i)&63)) & 1ULL)

void mini_build_cfg(MiniFunc *f) {
  size_t nb = 0;
  int64_t maxl = -1;
  for (size_t i = 0; i < f->n; i++) {
    if (f->insts[i].op == LLVMMiniLabel) {
      nb++;
      if (f->insts[i].a > maxl)
        maxl = f->insts[i].a;
    }
  }
  f->nblocks = nb;
  f->nlabels = maxl + 1;
  f->bstart = mini_xmalloc(nb * sizeof(size_t));
  f->bend = mini_xmalloc(nb * sizeof(size_t));
  f->succ = mini_xmalloc(2 * nb * sizeof(int32_t));
  f->label_block = mini_xmalloc((size_t)(maxl + 1) * sizeof(int32_t));
  for (int64_t l = 0; l <= maxl; l++)
    f->label_block[l] = -1;
  size_t b = 0;
  for (size_t i = 0; i < f->n; i++) {
    if (f->insts[i].op == LLVMMiniLabel) {
      if (b > 0)
        f->bend[b - 1] = i;
      f->bstart[b] = i;
      f->label_block[f->insts[i].a] = (int32_t)b;
      b++;
    }
  }
  if (nb > 0)
    f->bend[nb - 1] = f->n;
  for (size_t k = 0; k < nb; k++) {
    f->succ[2 * k] = f->succ[2 * k + 1] = -1;
    /* The terminator is the first terminator in the block; anything after it is dead. */
    size_t t = f->bstart[k] + 1;
    while (t < f->bend[k] && !mini_is_terminator(f->insts[t].op))
      t++;
    if (t == f->bend[k]) {
      if (k + 1 < nb)
        f->succ[2 * k] = (int32_t)(k + 1);
      continue;
    }
    LLVMMiniInst *in = &f->insts[t];
    if (in->op == LLVMMiniJmp) {
      f->succ[2 * k] = f->label_block[in->a];
    } else if (in->op == LLVMMiniBr) {
      f->succ[2 * k] = f->label_block[in->b];
      f->succ[2 * k + 1] = f->label_block[in->c];
    }
    for (size_t j = t + 1; j < f->bend[k]; j++)
      f->insts[j].op = LLVMMiniNop;
  }
}

void mini_free_cfg(MiniFunc *f) {
  free(f->bstart);
  free(f->bend);
  free(f->succ);
  free(f->label_block);
  f->bstart = f->bend = NULL;
  f->succ = f->label_block = NULL;
  f->nblocks = 0;
}

/* Iterative backward dataflow: live_in = use | (live_out & ~def). */
void mini_liveness(MiniFunc *f) {
  size_t w = ((size_t)f->nvregs + 63) / 64;
  if (w == 0)
    w = 1;
  size_t nb = f->nblocks;
  f->words = w;
  f->live_in = mini_xcalloc(nb * w, sizeof(uint64_t));
  f->live_out = mini_xcalloc(nb * w, sizeof(uint64_t));
  f->use = mini_xcalloc(nb * w, sizeof(uint64_t));
  f->def = mini_xcalloc(nb * w, sizeof(uint64_t));
  for (size_t b = 0; b < nb; b++) {
    uint64_t *use = f->use + b * w, *def = f->def + b * w;
    for (size_t i = f->bstart[b]; i < f->bend[b]; i++) {
      int32_t u[2], d;
      int nu = mini_uses(&f->insts[i], u);
      for (int k = 0; k < nu; k++)
        if (u[k] >= 0 && !BIT_GET(def, u[k]))
          BIT_SET(use, u[k]);
      int nd = mini_defs(&f->insts[i], &d);
      for (int k = 0; k < nd; k++)
        if (d + k >= 0)
          BIT_SET(def, d + k);
    }
  }
  int changed = 1;
  while (changed) {
    changed = 0;
    for (size_t bi = nb; bi-- > 0;) {
      uint64_t *out = f->live_out + bi * w, *in = f->live_in + bi * w;
      for (int s = 0; s < 2; s++) {
        int32_t sb = f->succ[2 * bi + s];
        if (sb < 0)
          continue;
        uint64_t *sin = f->live_in + (size_t)sb * w;
        for (size_t k = 0; k < w; k++)
          out[k] |= sin[k];
      }
      uint64_t *use = f->use + bi * w, *def = f->def + bi * w;
      for (size_t k = 0; k < w; k++) {
        uint64_t v = use[k] | (out[k] & ~def[k]);
        if (v != in[k]) {
          in[k] = v;
          changed = 1;
        }
      }
    }
  }
}

void mini_free_liveness(MiniFunc *f) {
  free(f->live_in);
  free(f->live_out);
  free(f->use);
  free(f->def);
  f->live_in = f->live_out = f->use = f->def = NULL;
}

static int fold_binary(int op, int64_t a, int64_t b, int64_t *out) {
  uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
  switch (op) {
  case LLVMMiniAdd: *out = (int64_t)(ua + ub); return 1;
  case LLVMMiniSub: *out = (int64_t)(ua - ub); return 1;
  case LLVMMiniMul: *out = (int64_t)(ua * ub); return 1;
  case LLVMMiniDiv:
    if (b == 0 || (a == INT64_MIN && b == -1)) return 0;
    *out = a / b; return 1;
  case LLVMMiniRem:
    if (b == 0 || (a == INT64_MIN && b == -1)) return 0;
    *out = a % b; return 1;
  case LLVMMiniAnd: *out = a & b; return 1;
  case LLVMMiniOr: *out = a | b; return 1;
  case LLVMMiniXor: *out = a ^ b; return 1;
  case LLVMMiniShl: *out = (int64_t)(ua << (b & 63)); return 1;
  case LLVMMiniShr: *out = a >> (b & 63); return 1;
  case LLVMMiniEq: *out = a == b; return 1;
  case LLVMMiniNe: *out = a != b; return 1;
  case LLVMMiniLt: *out = a < b; return 1;
  case LLVMMiniLe: *out = a <= b; return 1;
  case LLVMMiniGt: *out = a > b; return 1;
  case LLVMMiniGe: *out = a >= b; return 1;
  default: return 0;
  }
}

static void set_const(LLVMMiniInst *in, int64_t v) {
  in->op = LLVMMiniConst;
  in->a = v;
  in->b = in->c = 0;
}

static void set_mov(LLVMMiniInst *in, int64_t src) {
  in->op = LLVMMiniMov;
  in->a = src;
  in->b = in->c = 0;
}

/* Constant folding and propagation (block-local, plus single-definition constants). */
size_t mini_fold_constants(MiniFunc *f, uint64_t *stats) {
  size_t nv = (size_t)f->nvregs, changed = 0;
  uint32_t *ndefs = mini_xcalloc(nv, sizeof(uint32_t));
  uint8_t *global = mini_xcalloc(nv, 1);
  int64_t *gval = mini_xcalloc(nv, sizeof(int64_t));
  uint32_t *stamp = mini_xcalloc(nv, sizeof(uint32_t));
  int64_t *val = mini_xcalloc(nv, sizeof(int64_t));
  for (size_t i = 0; i < f->n; i++) {
    int32_t d;
    int nd = mini_defs(&f->insts[i], &d);
    for (int k = 0; k < nd; k++)
      if (d + k >= 0 && (size_t)(d + k) < nv)
        ndefs[d + k]++;
  }
  for (size_t i = 0; i < f->n; i++) {
    LLVMMiniInst *in = &f->insts[i];
    if (in->op == LLVMMiniConst && ndefs[in->dst] == 1) {
      global[in->dst] = 1;
      gval[in->dst] = in->a;
    }
  }
  for (size_t b = 0; b < f->nblocks; b++) {
    uint32_t gen = (uint32_t)b + 1;
#define KNOWN(r) (((r) >= 0 && (size_t)(r) < nv) && (stamp[r] == gen || global[r]))
#define VALUE(r) (stamp[r] == gen ? val[r] : gval[r])
    for (size_t i = f->bstart[b]; i < f->bend[b]; i++) {
      LLVMMiniInst *in = &f->insts[i];
      int op = in->op;
      if (mini_is_binary(op)) {
        int64_t r;
        int32_t x = (int32_t)in->a, y = (int32_t)in->b;
        if (KNOWN(x) && KNOWN(y) && fold_binary(op, VALUE(x), VALUE(y), &r)) {
          set_const(in, r);
          changed++;
          stats[STAT_FOLDED]++;
        } else if (KNOWN(y) && VALUE(y) == 0 &&
                   (op == LLVMMiniAdd || op == LLVMMiniSub || op == LLVMMiniOr || op == LLVMMiniXor ||
                    op == LLVMMiniShl || op == LLVMMiniShr)) {
          set_mov(in, x);
          changed++;
          stats[STAT_FOLDED]++;
        } else if (KNOWN(y) && VALUE(y) == 1 && (op == LLVMMiniMul || op == LLVMMiniDiv)) {
          set_mov(in, x);
          changed++;
          stats[STAT_FOLDED]++;
        } else if (((KNOWN(y) && VALUE(y) == 0) || (KNOWN(x) && VALUE(x) == 0)) &&
                   (op == LLVMMiniMul || op == LLVMMiniAnd)) {
          set_const(in, 0);
          changed++;
          stats[STAT_FOLDED]++;
        } else if (x == y && (op == LLVMMiniSub || op == LLVMMiniXor || op == LLVMMiniNe || op == LLVMMiniLt ||
                              op == LLVMMiniGt)) {
          set_const(in, 0);
          changed++;
          stats[STAT_FOLDED]++;
        } else if (x == y && (op == LLVMMiniEq || op == LLVMMiniLe || op == LLVMMiniGe)) {
          set_const(in, 1);
          changed++;
          stats[STAT_FOLDED]++;
        }
      } else if (mini_is_unary(op) && KNOWN((int32_t)in->a)) {
        int64_t v = VALUE((int32_t)in->a);
        set_const(in, op == LLVMMiniMov ? v : op == LLVMMiniNeg ? (int64_t)(0 - (uint64_t)v)
                                           : op == LLVMMiniNot ? (v == 0)
                                                               : ~v);
        changed++;
        stats[STAT_FOLDED]++;
      } else if (op == LLVMMiniBr && KNOWN((int32_t)in->a)) {
        int64_t target = VALUE((int32_t)in->a) ? in->b : in->c;
        in->op = LLVMMiniJmp;
        in->a = target;
        in->b = in->c = 0;
        changed++;
        stats[STAT_FOLDED]++;
      }
      int32_t d;
      int nd = mini_defs(in, &d);
      for (int k = 0; k < nd; k++) {
        int32_t r = d + k;
        if (r < 0 || (size_t)r >= nv)
          continue;
        if (in->op == LLVMMiniConst) {
          stamp[r] = gen;
          val[r] = in->a;
        } else {
          stamp[r] = 0;
        }
      }
    }
#undef KNOWN
#undef VALUE
  }
  free(ndefs);
  free(global);
  free(gval);
  free(stamp);
  free(val);
  return changed;
}

/* Block-local copy propagation: uses of `d` after `MOV d, s` read `s` while neither changed. */
size_t mini_copy_propagate(MiniFunc *f, uint64_t *stats) {
  size_t nv = (size_t)f->nvregs, changed = 0;
  int32_t *copy_of = mini_xmalloc(nv * sizeof(int32_t));
  uint32_t *ver = mini_xcalloc(nv, sizeof(uint32_t));
  uint32_t *copy_ver = mini_xcalloc(nv, sizeof(uint32_t));
  uint32_t *src_ver = mini_xcalloc(nv, sizeof(uint32_t));
  for (size_t b = 0; b < f->nblocks; b++) {
    for (size_t k = 0; k < nv; k++)
      copy_of[k] = -1;
    for (size_t i = f->bstart[b]; i < f->bend[b]; i++) {
      LLVMMiniInst *in = &f->insts[i];
      int64_t *ops[2] = {NULL, NULL};
      int nops = 0;
      if (mini_is_binary(in->op)) {
        ops[0] = &in->a;
        ops[1] = &in->b;
        nops = 2;
      } else if (mini_is_unary(in->op) || in->op == LLVMMiniBr || in->op == LLVMMiniRetV || in->op == LLVMMiniArg) {
        ops[0] = &in->a;
        nops = 1;
      }
      for (int k = 0; k < nops; k++) {
        int32_t r = (int32_t)*ops[k];
        if (r < 0 || (size_t)r >= nv)
          continue;
        int32_t s = copy_of[r];
        if (s >= 0 && copy_ver[r] == ver[r] && src_ver[r] == ver[s]) {
          *ops[k] = s;
          changed++;
          stats[STAT_COPIES]++;
        }
      }
      int32_t d;
      int nd = mini_defs(in, &d);
      for (int k = 0; k < nd; k++) {
        if (d + k < 0 || (size_t)(d + k) >= nv)
          continue;
        ver[d + k]++;
        copy_of[d + k] = -1;
      }
      if (in->op == LLVMMiniMov && in->a != in->dst && in->a >= 0) {
        copy_of[in->dst] = (int32_t)in->a;
        copy_ver[in->dst] = ver[in->dst];
        src_ver[in->dst] = ver[in->a];
      } else if (in->op == LLVMMiniMov && in->a == in->dst) {
        in->op = LLVMMiniNop;
        changed++;
      }
    }
  }
  free(copy_of);
  free(ver);
  free(copy_ver);
  free(src_ver);
  return changed;
}

typedef struct {
  int32_t op, dst;
  int64_t a, b;
  uint32_t va, vb, vd;
  int used;
} CseEntry;

static uint64_t cse_hash(int32_t op, int64_t a, int64_t b, uint32_t va, uint32_t vb) {
  uint64_t h = 1469598103934665603ULL;
  uint64_t parts[5] = {(uint64_t)op, (uint64_t)a, (uint64_t)b, va, vb};
  for (int i = 0; i < 5; i++) {
    h ^= parts[i];
    h *= 1099511628211ULL;
    h ^= h >> 29;
  }
  return h;
}

/* Local value numbering: recomputations of the same pure expression become copies. */
size_t mini_local_cse(MiniFunc *f, uint64_t *stats) {
  size_t nv = (size_t)f->nvregs, changed = 0;
  uint32_t *ver = mini_xcalloc(nv, sizeof(uint32_t));
  size_t cap = 64;
  CseEntry *table = mini_xcalloc(cap, sizeof(CseEntry));
  for (size_t b = 0; b < f->nblocks; b++) {
    size_t len = f->bend[b] - f->bstart[b];
    size_t need = 64;
    while (need < len * 2)
      need *= 2;
    if (need > cap) {
      free(table);
      cap = need;
      table = mini_xcalloc(cap, sizeof(CseEntry));
    } else {
      memset(table, 0, cap * sizeof(CseEntry));
    }
    for (size_t i = f->bstart[b]; i < f->bend[b]; i++) {
      LLVMMiniInst *in = &f->insts[i];
      int op = in->op;
      int candidate = op == LLVMMiniConst || (mini_is_binary(op) && op != LLVMMiniDiv && op != LLVMMiniRem) ||
                      op == LLVMMiniNeg || op == LLVMMiniNot || op == LLVMMiniBNot;
      if (candidate && in->dst >= 0) {
        int64_t a = in->a, bb = op == LLVMMiniConst || !mini_is_binary(op) ? 0 : in->b;
        /* Commutative operations are canonicalized. */
        if ((op == LLVMMiniAdd || op == LLVMMiniMul || op == LLVMMiniAnd || op == LLVMMiniOr || op == LLVMMiniXor ||
             op == LLVMMiniEq || op == LLVMMiniNe) && a > bb) {
          int64_t t = a;
          a = bb;
          bb = t;
        }
        uint32_t va = op == LLVMMiniConst ? 0 : ver[a];
        uint32_t vb = (op == LLVMMiniConst || !mini_is_binary(op)) ? 0 : ver[bb];
        size_t mask = cap - 1, h = (size_t)cse_hash(op, a, bb, va, vb) & mask;
        int replaced = 0;
        while (table[h].used) {
          CseEntry *e = &table[h];
          if (e->op == op && e->a == a && e->b == bb && e->va == va && e->vb == vb) {
            if (ver[e->dst] == e->vd && e->dst != in->dst) {
              set_mov(in, e->dst);
              changed++;
              stats[STAT_CSE]++;
              replaced = 1;
            }
            break;
          }
          h = (h + 1) & mask;
        }
        ver[in->dst]++;
        if (!replaced && !table[h].used) {
          CseEntry *e = &table[h];
          e->used = 1;
          e->op = op;
          e->a = a;
          e->b = bb;
          e->va = va;
          e->vb = vb;
          e->dst = in->dst;
          e->vd = ver[in->dst];
        }
        continue;
      }
      int32_t d;
      int nd = mini_defs(in, &d);
      for (int k = 0; k < nd; k++)
        if (d + k >= 0 && (size_t)(d + k) < nv)
          ver[d + k]++;
    }
  }
  free(table);
  free(ver);
  return changed;
}

/* Removes pure instructions whose results are never read. Requires liveness. */
size_t mini_eliminate_dead_code(MiniFunc *f, uint64_t *stats) {
  size_t w = f->words, changed = 0;
  uint64_t *live = mini_xmalloc(w * sizeof(uint64_t));
  for (size_t b = 0; b < f->nblocks; b++) {
    memcpy(live, f->live_out + b * w, w * sizeof(uint64_t));
    for (size_t i = f->bend[b]; i-- > f->bstart[b];) {
      LLVMMiniInst *in = &f->insts[i];
      int32_t d;
      int nd = mini_defs(in, &d);
      if (mini_is_pure(in->op) && in->op != LLVMMiniParam && d >= 0 && !BIT_GET(live, d)) {
        in->op = LLVMMiniNop;
        changed++;
        stats[STAT_DCE]++;
        continue;
      }
      for (int k = 0; k < nd; k++)
        if (d + k >= 0)
          BIT_CLR(live, d + k);
      int32_t u[2];
      int nu = mini_uses(in, u);
      for (int k = 0; k < nu; k++)
        if (u[k] >= 0)
          BIT_SET(live, u[k]);
    }
  }
  free(live);
  return changed;
}

/* Removes unreachable blocks and threads jumps to jumps. */
size_t mini_simplify_cfg(MiniFunc *f, uint64_t *stats) {
  size_t nb = f->nblocks, changed = 0;
  if (nb == 0)
    return 0;
  /* Jump threading. */
  for (size_t b = 0; b < nb; b++) {
    size_t t = f->bend[b];
    while (t > f->bstart[b] && f->insts[t - 1].op == LLVMMiniNop)
      t--;
    if (t == f->bstart[b])
      continue;
    LLVMMiniInst *in = &f->insts[t - 1];
    int64_t *targets[2] = {NULL, NULL};
    if (in->op == LLVMMiniJmp)
      targets[0] = &in->a;
    else if (in->op == LLVMMiniBr) {
      targets[0] = &in->b;
      targets[1] = &in->c;
    }
    for (int k = 0; k < 2; k++) {
      if (!targets[k])
        continue;
      for (int hops = 0; hops < 8; hops++) {
        int32_t tb = f->label_block[*targets[k]];
        size_t j = f->bstart[tb] + 1;
        while (j < f->bend[tb] && f->insts[j].op == LLVMMiniNop)
          j++;
        if (j < f->bend[tb] && f->insts[j].op == LLVMMiniJmp && f->insts[j].a != *targets[k]) {
          *targets[k] = f->insts[j].a;
          changed++;
        } else {
          break;
        }
      }
    }
    if (in->op == LLVMMiniBr && in->b == in->c) {
      in->op = LLVMMiniJmp;
      in->a = in->b;
      in->b = in->c = 0;
      changed++;
    }
  }
  /* Reachability from the entry block (successors recomputed from the terminators). */
  uint8_t *reached = mini_xcalloc(nb, 1);
  size_t *stack = mini_xmalloc(nb * sizeof(size_t));
  size_t sp = 0;
  stack[sp++] = 0;
  reached[0] = 1;
  while (sp) {
    size_t b = stack[--sp];
    int32_t succ[2] = {-1, -1};
    size_t t = f->bstart[b] + 1;
    while (t < f->bend[b] && !mini_is_terminator(f->insts[t].op))
      t++;
    if (t == f->bend[b]) {
      if (b + 1 < nb)
        succ[0] = (int32_t)(b + 1);
    } else if (f->insts[t].op == LLVMMiniJmp) {
      succ[0] = f->label_block[f->insts[t].a];
    } else if (f->insts[t].op == LLVMMiniBr) {
      succ[0] = f->label_block[f->insts[t].b];
      succ[1] = f->label_block[f->insts[t].c];
    }
    for (int k = 0; k < 2; k++) {
      if (succ[k] >= 0 && !reached[succ[k]]) {
        reached[succ[k]] = 1;
        stack[sp++] = (size_t)succ[k];
      }
    }
  }
  for (size_t b = 0; b < nb; b++) {
    if (reached[b])
      continue;
    /* A block is only removable if nothing falls through into it. */
    changed++;
    stats[STAT_DEAD_BLOCKS]++;
    for (size_t i = f->bstart[b]; i < f->bend[b]; i++)
      f->insts[i].op = LLVMMiniNop;
  }
  free(reached);
  free(stack);
  return changed;
}

void mini_compact(MiniFunc *f) {
  size_t j = 0;
  for (size_t i = 0; i < f->n; i++)
    if (f->insts[i].op != LLVMMiniNop)
      f->insts[j++] = f->insts[i];
  f->n = j;
}
