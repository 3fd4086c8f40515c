/* Mail-merge templates compiled once into a flat list of operations:
 * text, {{name}} / {{{name}}} variables, and {{#name}} / {{^name}}
 * sections whose body is the operations up to their end. Rendering
 * looks the names up in Lua tables (csrc/lua/l_template.c). */
#ifndef MC_TEMPLATE_H
#define MC_TEMPLATE_H

#include <stddef.h>

#include "error.h"

/* Sections nested deeper than this are refused when compiling: the
 * renderer keeps one scope per level. */
#define MC_TPL_MAX_DEPTH 64

typedef enum { MC_TPL_TEXT, MC_TPL_VAR, MC_TPL_SECTION } mc_tpl_kind_t;

typedef struct {
  mc_tpl_kind_t kind;
  int raw;            /* VAR: {{{name}}}, not escaped */
  int inverted;       /* SECTION: {{^name}} */
  unsigned line;      /* VAR, SECTION: where the tag is */
  size_t off, len;    /* TEXT: the bytes; VAR, SECTION: the name as written */
  size_t key;         /* VAR, SECTION: offset in keys of the name's parts */
  size_t nparts;      /* VAR, SECTION: 0 for ".", the current item */
  size_t end;         /* SECTION: the index of the first op after the body */
} mc_tpl_op_t;

typedef struct {
  char *src;          /* a copy of the source: TEXT ops and names point in */
  char *keys;         /* each name's dot-separated parts, each NUL-ended */
  mc_tpl_op_t *ops;
  size_t nops;
  char *name;         /* for messages: "template NAME:LINE: ..." */
} mc_tpl_t;

/* Compiles n bytes of src; NULL with e set ("template NAME:LINE: ...")
 * on bad syntax. */
mc_tpl_t *mc_tpl_compile(const char *src, size_t n, const char *name, mc_error_t *e);

void mc_tpl_free(mc_tpl_t *t);

/* The first part of op's name; each next one follows the NUL of the one
 * before (op->nparts in all). */
static inline const char *mc_tpl_part(const mc_tpl_t *t, const mc_tpl_op_t *op) {
  return t->keys + op->key;
}

#endif
