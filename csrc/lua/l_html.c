/* mailcast.core html_inventory: what the HTML scanner finds in a
 * document (its links, its images, how much text it shows), for the
 * checks of `mailcast lint`. */
#include "binding.h"
#include "core/html_scan.h"


static int scan_gc(lua_State *L) {
  mc_html_scan_free(lua_touserdata(L, 1));
  return 0;
}


static void push_string(lua_State *L, const mc_buf_t *b, size_t at, size_t len) {
  lua_pushlstring(L, len ? b->data + at : "", len);
}


/* html_inventory(html) -> {links = {{url=, text=}...}, images = {{src=,
 *   alt = bool, in_link = bool}...}, text_bytes = n} | fail, message */
static int l_html_inventory(lua_State *L) {
  size_t n;
  const char *html = luaL_checklstring(L, 1, &n);
  mc_html_scan_t *s = mc_l_guard(L, sizeof *s, scan_gc);
  int guard = lua_gettop(L);
  s->body_end = MC_HTML_NONE;
  s->want_images = 1;
  mc_error_t e;
  if (mc_html_scan(s, html, n, &e) != 0) {
    mc_l_release(L, guard, scan_gc);
    return mc_l_fail(L, &e);
  }
  lua_createtable(L, 0, 3);
  lua_createtable(L, s->count < 100000 ? (int)s->count : 0, 0);
  for (size_t i = 0; i < s->count; i++) {
    const mc_html_link_t *l = &s->links[i];
    lua_createtable(L, 0, 2);
    push_string(L, &s->strings, l->url, l->url_len);
    lua_setfield(L, -2, "url");
    push_string(L, &s->strings, l->text, l->text_len);
    lua_setfield(L, -2, "text");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "links");
  lua_createtable(L, s->nimages < 100000 ? (int)s->nimages : 0, 0);
  for (size_t i = 0; i < s->nimages; i++) {
    const mc_html_image_t *img = &s->images[i];
    lua_createtable(L, 0, 3);
    push_string(L, &s->image_strings, img->src, img->src_len);
    lua_setfield(L, -2, "src");
    lua_pushboolean(L, img->has_alt);
    lua_setfield(L, -2, "alt");
    lua_pushboolean(L, img->in_link);
    lua_setfield(L, -2, "in_link");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "images");
  lua_pushinteger(L, (lua_Integer)s->text_bytes);
  lua_setfield(L, -2, "text_bytes");
  mc_html_scan_free(s);    /* now, not at a collection (and safe to free again) */
  lua_replace(L, guard);
  return 1;
}


void mc_l_open_html(lua_State *L) {
  lua_pushcfunction(L, l_html_inventory);
  lua_setfield(L, -2, "html_inventory");
}
