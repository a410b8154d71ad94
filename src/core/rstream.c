/* A look at an R serialization stream before unserialize() reads it: does
 * it hold a promise where R itself never writes one?
 *
 * unserialize() returns a promise read from the stream as it is, and the
 * first use of the value runs the promise's code (CVE-2024-27322). R 4.4.0
 * refuses a promise as the result, but not one inside it (a list element,
 * an attribute): that one runs at the element's first use, in every R
 * version, so the check is made in every version. R does write
 * promises in one place: as the value of a variable in an environment's
 * frame (an argument not yet forced, in the environment of a closure made
 * inside a function; every family object of stats, and so every glm or gam
 * fit, holds one) and in the `...` list bound there. So a promise is
 * accepted there and refused anywhere else: as the value itself, in a list
 * element, an attribute, a call, a promise's value.
 *
 * This mirrors serialize.c's ReadItem (R 4.2 to 4.5; the format has not
 * changed since version 3): binary native ("B\n") and XDR ("X\n") streams
 * of versions 2 and 3. The ASCII format ("A\n") is not read here (we never
 * write it). Vector data is skipped, not read: a 100 MB double vector
 * costs the same as a short one. Nesting is followed with a stack on the
 * heap, not recursion, so no input can exhaust the C stack. A stream that
 * R would refuse (bad lengths, unknown types, out-of-range references in
 * byte code) is reported as malformed: the caller never hands it to
 * unserialize(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_core.h"

/* SEXPTYPEs and the stream's administrative codes (serialize.c). */
enum {
  SYMSXP = 1, LISTSXP = 2, CLOSXP = 3, ENVSXP = 4, PROMSXP = 5, LANGSXP = 6,
  SPECIALSXP = 7, BUILTINSXP = 8, CHARSXP = 9, LGLSXP = 10, INTSXP = 13,
  REALSXP = 14, CPLXSXP = 15, STRSXP = 16, DOTSXP = 17, VECSXP = 19,
  EXPRSXP = 20, BCODESXP = 21, EXTPTRSXP = 22, WEAKREFSXP = 23, RAWSXP = 24,
  OBJSXP = 25,
  ALTREP_SXP = 238, ATTRLISTSXP = 239, ATTRLANGSXP = 240, BASEENV_SXP = 241,
  EMPTYENV_SXP = 242, BCREPREF = 243, BCREPDEF = 244, GENERICREFSXP = 245,
  CLASSREFSXP = 246, PERSISTSXP = 247, PACKAGESXP = 248, NAMESPACESXP = 249,
  BASENAMESPACE_SXP = 250, MISSINGARG_SXP = 251, UNBOUNDVALUE_SXP = 252,
  GLOBALENV_SXP = 253, NILVALUE_SXP = 254, REFSXP = 255
};
#define HAS_ATTR (1 << 9)
#define HAS_TAG (1 << 10)
#define R_CODESET_MAX 63

/* Where an item stands, which decides whether it may be a promise. */
typedef enum {
  AT_PLAIN,   /* anywhere else: no promise */
  AT_BINDING, /* a variable's value in a frame, an element of `...`, a
                 promise's code: a promise may stand here */
  AT_FRAME,   /* an environment's frame list, or the rest of it */
  AT_HASHTAB, /* an environment's hash table: a list of frame lists */
  AT_DOTS     /* the rest of a `...` list */
} place;

typedef enum {
  T_ITEM,      /* one item */
  T_ITEMS,     /* `count` items, all at one place (vector elements) */
  T_BC,        /* a byte code body: its code, then its constants */
  T_BC_CONSTS, /* the constant pool's length, then its constants */
  T_BC_CONST,  /* `count` constants left */
  T_BC_LANG    /* one node of a call or list in a constant pool */
} task_kind;

typedef struct task {
  uint8_t kind, at;
  uint32_t reps; /* byte code: the length of its table of shared cells */
  uint64_t count;
} task;

typedef struct reader {
  const unsigned char *p, *end;
  int xdr;
  task *stack;
  size_t n, cap;
} reader;

static int read_int(reader *r, int32_t *out) {
  if (r->end - r->p < 4) return -1;
  uint32_t v;
  if (r->xdr) {
    v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
        (uint32_t)r->p[2] << 8 | (uint32_t)r->p[3];
  } else {
    memcpy(&v, r->p, 4);
  }
  r->p += 4;
  *out = (int32_t)v;
  return 0;
}

static int skip(reader *r, uint64_t n) {
  if ((uint64_t)(r->end - r->p) < n) return -1;
  r->p += n;
  return 0;
}

/* serialize.c's ReadLENGTH: -1 announces a long length in two more ints. */
static int read_length(reader *r, uint64_t *out) {
  int32_t len;
  if (read_int(r, &len) != 0 || len < -1) return -1;
  if (len >= 0) {
    *out = (uint64_t)len;
    return 0;
  }
  int32_t hi, lo;
  if (read_int(r, &hi) != 0 || read_int(r, &lo) != 0 ||
      (uint32_t)hi > 65536)
    return -1;
  *out = ((uint64_t)(uint32_t)hi << 32) + (uint32_t)lo;
  return 0;
}

/* Every pending task reads at least one int, so a stack deeper than the
 * ints left in the stream describes a stream that is cut short. */
static ws_rstream_verdict push(reader *r, task_kind kind, place at,
                               uint32_t reps, uint64_t count) {
  if (r->n >= (size_t)(r->end - r->p) / 4 + 8) return WS_RSTREAM_MALFORMED;
  if (r->n == r->cap) {
    size_t nc = r->cap ? r->cap * 2 : 64;
    task *s = realloc(r->stack, nc * sizeof *s);
    if (s == NULL) return WS_RSTREAM_NOMEM;
    r->stack = s;
    r->cap = nc;
  }
  task *t = &r->stack[r->n++];
  t->kind = (uint8_t)kind;
  t->at = (uint8_t)at;
  t->reps = reps;
  t->count = count;
  return WS_RSTREAM_OK;
}

#define PUSH(r, kind, at, reps, count)                                        \
  do {                                                                        \
    ws_rstream_verdict v_ = push(r, kind, at, reps, count);                   \
    if (v_ != WS_RSTREAM_OK) return v_;                                       \
  } while (0)

/* The places of a pair node's CAR and CDR, given the node's own place. */
static void node_places(int type, place at, place *car, place *cdr) {
  *car = *cdr = AT_PLAIN;
  if (type == LISTSXP && (at == AT_FRAME || at == AT_DOTS)) {
    *car = AT_BINDING;
    *cdr = at;
  } else if (type == DOTSXP && (at == AT_BINDING || at == AT_DOTS)) {
    *car = AT_BINDING;
    *cdr = AT_DOTS;
  } else if (type == PROMSXP) {
    /* Its value is plain (a forced promise whose value is a promise would
     * hand that promise out); its code may be a promise (R makes those
     * when it passes a promise on as an argument, as NextMethod() does). */
    *cdr = AT_BINDING;
  }
}

/* One item (serialize.c's ReadItem): its flags, its own data, and the
 * items it contains pushed in reverse stream order. */
static ws_rstream_verdict read_item(reader *r, place at) {
  int32_t flags, n;
  uint64_t len;
  if (read_int(r, &flags) != 0) return WS_RSTREAM_MALFORMED;
  int type = flags & 255;
  int hasattr = (flags & HAS_ATTR) != 0, hastag = (flags & HAS_TAG) != 0;
  switch (type) {
  case NILVALUE_SXP:
  case EMPTYENV_SXP:
  case BASEENV_SXP:
  case GLOBALENV_SXP:
  case UNBOUNDVALUE_SXP:
  case MISSINGARG_SXP:
  case BASENAMESPACE_SXP:
    return WS_RSTREAM_OK;
  case REFSXP:
    /* A reference to an earlier symbol, environment or pointer: never a
     * promise (promises are not in the reference table). */
    if ((flags >> 8) == 0 && read_int(r, &n) != 0) return WS_RSTREAM_MALFORMED;
    return WS_RSTREAM_OK;
  case PERSISTSXP:
  case PACKAGESXP:
  case NAMESPACESXP: {
    /* A vector of strings (InStringVec). */
    int32_t zero;
    if (read_int(r, &zero) != 0 || zero != 0 || read_int(r, &n) != 0 || n < 0)
      return WS_RSTREAM_MALFORMED;
    if (n > 0) PUSH(r, T_ITEMS, AT_PLAIN, 0, (uint64_t)n);
    return WS_RSTREAM_OK;
  }
  case ALTREP_SXP:
    /* Class, state and attributes, always written. */
    PUSH(r, T_ITEM, AT_PLAIN, 0, 0);
    PUSH(r, T_ITEM, AT_PLAIN, 0, 0);
    PUSH(r, T_ITEM, AT_PLAIN, 0, 0);
    return WS_RSTREAM_OK;
  case SYMSXP:
    PUSH(r, T_ITEM, AT_PLAIN, 0, 0); /* its name */
    return WS_RSTREAM_OK;
  case ENVSXP:
    if (read_int(r, &n) != 0) return WS_RSTREAM_MALFORMED; /* locked */
    PUSH(r, T_ITEM, AT_PLAIN, 0, 0);   /* attributes */
    PUSH(r, T_ITEM, AT_HASHTAB, 0, 0); /* hash table */
    PUSH(r, T_ITEM, AT_FRAME, 0, 0);   /* frame */
    PUSH(r, T_ITEM, AT_PLAIN, 0, 0);   /* enclosure */
    return WS_RSTREAM_OK;
  case PROMSXP:
    /* Otherwise a promise is a pair node like the others. */
    if (at != AT_BINDING) return WS_RSTREAM_PROMISE;
    /* fall through */
  case LISTSXP:
  case LANGSXP:
  case CLOSXP:
  case DOTSXP: {
    place car, cdr;
    node_places(type, at, &car, &cdr);
    /* Attributes, tag, CAR, then the CDR (the next node of a list). */
    PUSH(r, T_ITEM, cdr, 0, 0);
    PUSH(r, T_ITEM, car, 0, 0);
    if (hastag) PUSH(r, T_ITEM, AT_PLAIN, 0, 0);
    if (hasattr) PUSH(r, T_ITEM, AT_PLAIN, 0, 0);
    return WS_RSTREAM_OK;
  }
  default:
    break;
  }
  /* The rest read their data, then their attributes when flagged. */
  if (hasattr) PUSH(r, T_ITEM, AT_PLAIN, 0, 0);
  switch (type) {
  case EXTPTRSXP:
    PUSH(r, T_ITEM, AT_PLAIN, 0, 0); /* tag */
    PUSH(r, T_ITEM, AT_PLAIN, 0, 0); /* protected value */
    return WS_RSTREAM_OK;
  case WEAKREFSXP:
  case OBJSXP:
    return WS_RSTREAM_OK;
  case SPECIALSXP:
  case BUILTINSXP:
    if (read_int(r, &n) != 0 || n < 0 || skip(r, (uint64_t)n) != 0)
      return WS_RSTREAM_MALFORMED;
    return WS_RSTREAM_OK;
  case CHARSXP:
    if (read_int(r, &n) != 0 || n < -1) return WS_RSTREAM_MALFORMED;
    if (n >= 0 && skip(r, (uint64_t)n) != 0) return WS_RSTREAM_MALFORMED;
    return WS_RSTREAM_OK;
  case LGLSXP:
  case INTSXP:
  case REALSXP:
  case CPLXSXP:
  case RAWSXP: {
    uint64_t size = type == RAWSXP ? 1 : type == REALSXP ? 8
                    : type == CPLXSXP ? 16 : 4;
    /* Lengths are below 2^49, so the product cannot overflow. */
    if (read_length(r, &len) != 0 || skip(r, len * size) != 0)
      return WS_RSTREAM_MALFORMED;
    return WS_RSTREAM_OK;
  }
  case STRSXP:
  case VECSXP:
  case EXPRSXP:
    if (read_length(r, &len) != 0) return WS_RSTREAM_MALFORMED;
    if (len > 0)
      PUSH(r, T_ITEMS, type == VECSXP && at == AT_HASHTAB ? AT_FRAME : AT_PLAIN,
           0, len);
    return WS_RSTREAM_OK;
  case BCODESXP:
    /* ReadBC: the length of the table of cells shared within it. */
    if (read_int(r, &n) != 0 || n < 0) return WS_RSTREAM_MALFORMED;
    PUSH(r, T_BC, AT_PLAIN, (uint32_t)n, 0);
    return WS_RSTREAM_OK;
  default:
    /* CLASSREFSXP, GENERICREFSXP and unknown types: R refuses them. */
    return WS_RSTREAM_MALFORMED;
  }
}

/* ReadBCLang, for a node whose type (a marker) has just been read. */
static ws_rstream_verdict read_bc_lang(reader *r, int32_t type, uint32_t reps) {
  int32_t n;
  switch (type) {
  case BCREPREF:
    /* An index into the shared cells: R does not check its range. */
    if (read_int(r, &n) != 0 || n < 0 || (uint32_t)n >= reps)
      return WS_RSTREAM_MALFORMED;
    return WS_RSTREAM_OK;
  case BCREPDEF:
    if (read_int(r, &n) != 0 || n < 0 || (uint32_t)n >= reps ||
        read_int(r, &type) != 0)
      return WS_RSTREAM_MALFORMED;
    if (type != LANGSXP && type != LISTSXP && type != ATTRLANGSXP &&
        type != ATTRLISTSXP)
      return WS_RSTREAM_MALFORMED;
    /* fall through */
  case LANGSXP:
  case LISTSXP:
  case ATTRLANGSXP:
  case ATTRLISTSXP:
    PUSH(r, T_BC_LANG, AT_PLAIN, reps, 0); /* CDR */
    PUSH(r, T_BC_LANG, AT_PLAIN, reps, 0); /* CAR */
    PUSH(r, T_ITEM, AT_PLAIN, 0, 0);       /* tag */
    if (type == ATTRLANGSXP || type == ATTRLISTSXP)
      PUSH(r, T_ITEM, AT_PLAIN, 0, 0); /* attributes */
    return WS_RSTREAM_OK;
  default:
    PUSH(r, T_ITEM, AT_PLAIN, 0, 0); /* an ordinary item follows */
    return WS_RSTREAM_OK;
  }
}

static ws_rstream_verdict run(reader *r) {
  PUSH(r, T_ITEM, AT_PLAIN, 0, 0); /* the value itself: never a promise */
  while (r->n > 0) {
    task t = r->stack[--r->n];
    ws_rstream_verdict v = WS_RSTREAM_OK;
    int32_t n;
    switch ((task_kind)t.kind) {
    case T_ITEMS:
      if (t.count > 1) PUSH(r, T_ITEMS, (place)t.at, 0, t.count - 1);
      /* fall through */
    case T_ITEM:
      v = read_item(r, (place)t.at);
      break;
    case T_BC:
      PUSH(r, T_BC_CONSTS, AT_PLAIN, t.reps, 0);
      PUSH(r, T_ITEM, AT_PLAIN, 0, 0); /* the code, an integer vector */
      break;
    case T_BC_CONSTS:
      if (read_int(r, &n) != 0 || n < 0) return WS_RSTREAM_MALFORMED;
      if (n > 0) PUSH(r, T_BC_CONST, AT_PLAIN, t.reps, (uint64_t)n);
      break;
    case T_BC_CONST:
      if (t.count > 1) PUSH(r, T_BC_CONST, AT_PLAIN, t.reps, t.count - 1);
      if (read_int(r, &n) != 0) return WS_RSTREAM_MALFORMED;
      if (n == BCODESXP)
        PUSH(r, T_BC, AT_PLAIN, t.reps, 0); /* nested code shares the table */
      else if (n == LANGSXP || n == LISTSXP || n == BCREPDEF ||
               n == BCREPREF || n == ATTRLANGSXP || n == ATTRLISTSXP)
        v = read_bc_lang(r, n, t.reps);
      else
        PUSH(r, T_ITEM, AT_PLAIN, 0, 0);
      break;
    case T_BC_LANG:
      if (read_int(r, &n) != 0) return WS_RSTREAM_MALFORMED;
      v = read_bc_lang(r, n, t.reps);
      break;
    }
    if (v != WS_RSTREAM_OK) return v;
  }
  return WS_RSTREAM_OK;
}

ws_rstream_verdict ws_rstream_check(const void *data, size_t n) {
  reader r;
  memset(&r, 0, sizeof r);
  r.p = data;
  r.end = r.p + n;
  if (n < 2) return WS_RSTREAM_MALFORMED;
  if (r.p[0] == 'A' || (r.p[0] == '\n' && r.p[1] == 'A'))
    return WS_RSTREAM_UNSUPPORTED;
  if ((r.p[0] != 'B' && r.p[0] != 'X') || r.p[1] != '\n')
    return WS_RSTREAM_MALFORMED;
  r.xdr = r.p[0] == 'X';
  r.p += 2;
  int32_t version, writer, min_reader, nelen;
  if (read_int(&r, &version) != 0 || read_int(&r, &writer) != 0 ||
      read_int(&r, &min_reader) != 0)
    return WS_RSTREAM_MALFORMED;
  if (version == 3) {
    if (read_int(&r, &nelen) != 0 || nelen < 0 || nelen > R_CODESET_MAX ||
        skip(&r, (uint64_t)nelen) != 0)
      return WS_RSTREAM_MALFORMED;
  } else if (version != 2) {
    return WS_RSTREAM_MALFORMED;
  }
  ws_rstream_verdict v = run(&r);
  free(r.stack);
  return v;
}
