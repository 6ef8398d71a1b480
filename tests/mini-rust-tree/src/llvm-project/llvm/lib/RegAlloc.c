/* Register allocation: interference graph + Chaitin-style simplify/select coloring. */
#include "MiniInternal.h"

#define BIT_SET(bs, i) ((bs)[(i) >> 6] |= (1ULL << ((i)&63)))
#define BIT_CLR(bs, i) ((bs)[(i) >> 6] &= ~(1ULL << ((i)&63)))
#define BIT_GET(bs, i) (((bs)[(i) >> 6] >> ((i)&63)) & 1ULL)

/* Above this many virtual registers the quadratic graph is not built (like LLVM's fast allocator). */
#define MINI_MAX_GRAPH 6144

typedef struct {
  size_t n, words;
  uint64_t *adj;
  int32_t *degree;
} Graph;

static void add_edge(Graph *g, int32_t x, int32_t y) {
  if (x == y || x < 0 || y < 0)
    return;
  uint64_t *rx = g->adj + (size_t)x * g->words;
  if (BIT_GET(rx, y))
    return;
  BIT_SET(rx, y);
  BIT_SET(g->adj + (size_t)y * g->words, x);
  g->degree[x]++;
  g->degree[y]++;
}

static void build_interference(MiniFunc *f, Graph *g) {
  size_t w = f->words;
  uint64_t *live = mini_xmalloc(w * sizeof(uint64_t));
  for (size_t b = 0; b < f->nblocks; b++) {
    memcpy(live, f->live_out + b * w, w * sizeof(uint64_t));
    for (size_t i = f->bend[b]; i-- > f->bstart[b];) {
      LLVMMiniInst *in = &f->insts[i];
      int32_t d;
      int nd = mini_defs(in, &d);
      for (int k = 0; k < nd; k++) {
        int32_t r = d + k;
        if (r < 0)
          continue;
        for (size_t word = 0; word < w; word++) {
          uint64_t bits = live[word];
          while (bits) {
            int bit = __builtin_ctzll(bits);
            bits &= bits - 1;
            int32_t v = (int32_t)(word * 64 + (size_t)bit);
            /* A copy does not make its source and destination interfere. */
            if (in->op == LLVMMiniMov && v == (int32_t)in->a)
              continue;
            add_edge(g, r, v);
          }
        }
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
}

void mini_regalloc_spill_all(MiniFunc *f, uint64_t *stats) {
  size_t n = (size_t)f->nvregs;
  free(f->color);
  f->color = mini_xmalloc((n ? n : 1) * sizeof(int32_t));
  /* Only block-local values get registers; everything live across blocks lives on the stack. */
  int32_t next = 0;
  for (size_t v = 0; v < n; v++)
    f->color[v] = -1;
  for (size_t b = 0; b < f->nblocks; b++) {
    uint64_t *in = f->live_in + b * f->words, *out = f->live_out + b * f->words;
    for (size_t v = 0; v < n; v++) {
      if ((BIT_GET(in, v) || BIT_GET(out, v)) && f->color[v] < 0) {
        f->color[v] = MINI_NUM_REGS + next++;
        stats[STAT_SPILLS]++;
      }
    }
  }
  for (size_t v = 0; v < n; v++)
    if (f->color[v] < 0)
      f->color[v] = (int32_t)(v % MINI_NUM_REGS);
  f->nspill = next;
}

void mini_regalloc_greedy(MiniFunc *f, uint64_t *stats) {
  size_t n = (size_t)f->nvregs;
  if (n > MINI_MAX_GRAPH || n == 0) {
    mini_regalloc_spill_all(f, stats);
    return;
  }
  Graph g;
  g.n = n;
  g.words = (n + 63) / 64;
  g.adj = mini_xcalloc(n * g.words, sizeof(uint64_t));
  g.degree = mini_xcalloc(n, sizeof(int32_t));
  build_interference(f, &g);

  int32_t *deg = mini_xmalloc(n * sizeof(int32_t));
  memcpy(deg, g.degree, n * sizeof(int32_t));
  uint8_t *removed = mini_xcalloc(n, 1);
  int32_t *stack = mini_xmalloc(n * sizeof(int32_t));
  size_t sp = 0;
  /* Simplify: repeatedly remove a node of degree < K; otherwise pick a spill candidate. */
  for (size_t round = 0; round < n; round++) {
    int32_t pick = -1, worst = -1;
    for (size_t v = 0; v < n; v++) {
      if (removed[v])
        continue;
      if (deg[v] < MINI_NUM_REGS) {
        pick = (int32_t)v;
        break;
      }
      if (worst < 0 || deg[v] > deg[worst])
        worst = (int32_t)v;
    }
    if (pick < 0)
      pick = worst;
    if (pick < 0)
      break;
    removed[pick] = 1;
    stack[sp++] = pick;
    uint64_t *row = g.adj + (size_t)pick * g.words;
    for (size_t word = 0; word < g.words; word++) {
      uint64_t bits = row[word];
      while (bits) {
        int bit = __builtin_ctzll(bits);
        bits &= bits - 1;
        deg[word * 64 + (size_t)bit]--;
      }
    }
  }
  /* Select: pop and give each node the lowest color unused by its neighbours. */
  free(f->color);
  f->color = mini_xmalloc(n * sizeof(int32_t));
  for (size_t v = 0; v < n; v++)
    f->color[v] = -1;
  int32_t nspill = 0;
  while (sp) {
    int32_t v = stack[--sp];
    uint32_t used = 0;
    uint64_t *row = g.adj + (size_t)v * g.words;
    for (size_t word = 0; word < g.words; word++) {
      uint64_t bits = row[word];
      while (bits) {
        int bit = __builtin_ctzll(bits);
        bits &= bits - 1;
        int32_t c = f->color[word * 64 + (size_t)bit];
        if (c >= 0 && c < MINI_NUM_REGS)
          used |= 1u << c;
      }
    }
    int32_t c = 0;
    while (c < MINI_NUM_REGS && (used >> c) & 1)
      c++;
    if (c == MINI_NUM_REGS) {
      c = MINI_NUM_REGS + nspill++;
      stats[STAT_SPILLS]++;
    }
    f->color[v] = c;
  }
  f->nspill = nspill;
  free(deg);
  free(removed);
  free(stack);
  free(g.adj);
  free(g.degree);
}
