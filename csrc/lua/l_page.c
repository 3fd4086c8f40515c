/* mailcast.core for web pages sent as they are: html_page (what a page
 * refers to and what a mail reader blocks), css_urls (the url(...) of a
 * stylesheet), utf8_from (a stylesheet's text in its @charset made
 * UTF-8), html_text (the text part of an HTML body) and real_path
 * (where a reference leads once its symbolic links are followed). Positions
 * are Lua's: a reference's bytes are html:sub(at, stop). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "core/charset.h"
#include "core/css_url.h"
#include "core/html_page.h"
#include "core/html_scan.h"
#include "core/html_text.h"

static const char *const ref_kinds[] = {
  [MC_HTML_REF_SRC] = "src", [MC_HTML_REF_SRCSET] = "srcset", [MC_HTML_REF_BACKGROUND] = "background",
  [MC_HTML_REF_STYLE] = "style", [MC_HTML_REF_STYLE_BLOCK] = "style_block",
  [MC_HTML_REF_STYLESHEET] = "stylesheet",
  [MC_HTML_REF_IMPORT] = "import",
  [MC_HTML_REF_BASE] = "base",
};

/* What html_page holds while it builds its tables, freed however it ends. */
typedef struct {
  mc_html_scan_t scan;
  mc_html_page_t page;
} page_state;


static int page_state_gc(lua_State *L) {
  page_state *st = lua_touserdata(L, 1);
  mc_html_scan_free(&st->scan);
  mc_html_page_free(&st->page);
  return 0;
}


static void set_span(lua_State *L, size_t at, size_t len) {
  lua_pushinteger(L, (lua_Integer)at + 1);
  lua_setfield(L, -2, "at");
  lua_pushinteger(L, (lua_Integer)(at + len));
  lua_setfield(L, -2, "stop");
}


static void set_string(lua_State *L, const mc_buf_t *b, size_t at, size_t len, const char *key) {
  lua_pushlstring(L, len ? b->data + at : "", len);
  lua_setfield(L, -2, key);
}


static void set_quote(lua_State *L, char quote) {
  lua_pushlstring(L, &quote, quote ? 1 : 0);
  lua_setfield(L, -2, "quote");
}


static void push_refs(lua_State *L, const page_state *st, const char *html) {
  lua_createtable(L, (int)st->page.nrefs, 0);
  for (size_t i = 0; i < st->page.nrefs; i++) {
    const mc_html_ref_t *r = &st->page.refs[i];
    lua_createtable(L, 0, 5);
    lua_pushstring(L, ref_kinds[r->kind]);
    lua_setfield(L, -2, "kind");
    set_span(L, r->at, r->len);
    set_string(L, &st->scan.strings, r->url, r->url_len, "url");
    set_quote(L, r->quote);
    if (r->kind == MC_HTML_REF_IMPORT || r->kind == MC_HTML_REF_STYLESHEET) {
      lua_pushlstring(L, html + r->media, r->media_len);
      lua_setfield(L, -2, "media");
    }
    if (r->kind == MC_HTML_REF_IMPORT) {
      lua_pushinteger(L, (lua_Integer)r->block + 1);
      lua_setfield(L, -2, "block");
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}


/* The links with an href value (<a href> alone has nothing to change). */
static void push_links(lua_State *L, const page_state *st) {
  lua_createtable(L, (int)st->scan.count, 0);
  lua_Integer k = 0;
  for (size_t i = 0; i < st->scan.count; i++) {
    const mc_html_link_t *l = &st->scan.links[i];
    if (l->flags & MC_HTML_LINK_BARE) continue;
    lua_createtable(L, 0, 4);
    set_span(L, l->value, l->value_len);
    set_string(L, &st->scan.strings, l->url, l->url_len, "url");
    set_quote(L, l->quote);
    lua_rawseti(L, -2, ++k);
  }
}


static void push_cuts(lua_State *L, const page_state *st) {
  lua_createtable(L, (int)st->page.ncuts, 0);
  for (size_t i = 0; i < st->page.ncuts; i++) {
    const mc_html_cut_t *c = &st->page.cuts[i];
    lua_createtable(L, 0, 3);
    set_span(L, c->at, c->end - c->at);
    lua_pushstring(L, c->name);
    lua_setfield(L, -2, "name");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}


/* html_page(html) -> {refs = {{kind=, at=, stop=, url=, quote= [, media=]
 * [, block = where the content of an @import's <style> starts]}...},
 * links = {{at=, stop=, url=, quote=}...}, cuts = {{at=, stop=, name=}...},
 * head_end = position of "</head>" | nil} | fail, message */
static int l_html_page(lua_State *L) {
  size_t n;
  const char *html = luaL_checklstring(L, 1, &n);
  page_state *st = mc_l_guard(L, sizeof *st, page_state_gc);
  st->scan = (mc_html_scan_t)MC_HTML_SCAN_INIT;
  st->page = (mc_html_page_t)MC_HTML_PAGE_INIT;
  st->scan.page = &st->page;
  mc_error_t e;
  if (mc_html_scan(&st->scan, html, n, &e) != 0) {
    mc_l_release(L, -1, page_state_gc);
    luaL_pushfail(L);
    lua_pushstring(L, e.msg);
    return 2;
  }
  lua_createtable(L, 0, 4);
  push_refs(L, st, html);
  lua_setfield(L, -2, "refs");
  push_links(L, st);
  lua_setfield(L, -2, "links");
  push_cuts(L, st);
  lua_setfield(L, -2, "cuts");
  if (st->page.head_end != MC_HTML_NONE) {
    lua_pushinteger(L, (lua_Integer)st->page.head_end + 1);
    lua_setfield(L, -2, "head_end");
  }
  mc_l_release(L, -2, page_state_gc);
  return 1;
}


/* css_urls(css) -> {{at=, stop=, url= [, import = true, media=]}...}:
 * every url(...), at..stop being what stands between its parentheses,
 * and every @import, at..stop being the whole rule. */
static int l_css_urls(lua_State *L) {
  size_t n;
  const char *css = luaL_checklstring(L, 1, &n);
  lua_newtable(L);
  size_t from = 0;
  lua_Integer k = 0;
  mc_css_url_t u;
  while (mc_css_url_next(css, n, &from, &u)) {
    lua_createtable(L, 0, 3);
    set_span(L, u.at, u.len);
    lua_pushlstring(L, css + u.value, u.value_len);
    lua_setfield(L, -2, "url");
    if (u.import) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "import");
      lua_pushlstring(L, css + u.media, u.media_len);
      lua_setfield(L, -2, "media");
    }
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}


/* utf8_from(text, label) -> text (in the charset label names, as a page
 * labels it) as UTF-8, a byte not valid there written '?' | fail,
 * message when no such charset is known. */
static int l_utf8_from(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  const char *label = luaL_checkstring(L, 2);
  mc_buf_t *b = mc_l_buf(L);
  int rc = mc_charset_label_utf8(b, label, s, n);
  if (rc < 0) return luaL_error(L, "utf8_from: not enough memory");
  if (rc == 1) {
    mc_l_buf_release(L, -1);
    luaL_pushfail(L);
    lua_pushfstring(L, "no charset is known as '%s'", label);
    return 2;
  }
  lua_pushlstring(L, b->len ? b->data : "", b->len);
  mc_l_buf_release(L, -2);
  return 1;
}


/* html_text(html) -> the text of an HTML body (core/html_text.h). */
static int l_html_text(lua_State *L) {
  size_t n;
  const char *html = luaL_checklstring(L, 1, &n);
  mc_buf_t *b = mc_l_buf(L);
  mc_html_text(b, html, n);
  if (b->failed) return luaL_error(L, "html_text: not enough memory");
  lua_pushlstring(L, b->len ? b->data : "", b->len);
  mc_l_buf_release(L, -2);
  return 1;
}


/* real_path(path) -> the path with every symbolic link, "." and ".."
 * resolved | fail, message: where a page's reference really leads. */
static int l_real_path(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  char real[PATH_MAX];
  if (realpath(path, real) == NULL) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, strerror(errno));
    return 2;
  }
  lua_pushstring(L, real);
  return 1;
}


static const luaL_Reg functions[] = {
  {"html_page", l_html_page},
  {"real_path", l_real_path},
  {"css_urls", l_css_urls},
  {"utf8_from", l_utf8_from},
  {"html_text", l_html_text},
  {NULL, NULL},
};


void mc_l_open_page(lua_State *L) {
  luaL_setfuncs(L, functions, 0);
}
