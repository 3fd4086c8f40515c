#include "mimetype.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Sorted by extension for bsearch. */
static const struct { const char *ext, *type; } types[] = {
  {"7z", "application/x-7z-compressed"},
  {"avif", "image/avif"},
  {"bmp", "image/bmp"},
  {"css", "text/css"},
  {"csv", "text/csv"},
  {"doc", "application/msword"},
  {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
  {"eml", "message/rfc822"},
  {"epub", "application/epub+zip"},
  {"gif", "image/gif"},
  {"gz", "application/gzip"},
  {"heic", "image/heic"},
  {"htm", "text/html"},
  {"html", "text/html"},
  {"ico", "image/vnd.microsoft.icon"},
  {"ics", "text/calendar"},
  {"jpeg", "image/jpeg"},
  {"jpg", "image/jpeg"},
  {"js", "text/javascript"},
  {"json", "application/json"},
  {"m4a", "audio/mp4"},
  {"md", "text/markdown"},
  {"mov", "video/quicktime"},
  {"mp3", "audio/mpeg"},
  {"mp4", "video/mp4"},
  {"odp", "application/vnd.oasis.opendocument.presentation"},
  {"ods", "application/vnd.oasis.opendocument.spreadsheet"},
  {"odt", "application/vnd.oasis.opendocument.text"},
  {"oga", "audio/ogg"},
  {"ogg", "audio/ogg"},
  {"pdf", "application/pdf"},
  {"png", "image/png"},
  {"ppt", "application/vnd.ms-powerpoint"},
  {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
  {"rar", "application/vnd.rar"},
  {"rtf", "application/rtf"},
  {"svg", "image/svg+xml"},
  {"tar", "application/x-tar"},
  {"tif", "image/tiff"},
  {"tiff", "image/tiff"},
  {"txt", "text/plain"},
  {"vcf", "text/vcard"},
  {"wav", "audio/wav"},
  {"webm", "video/webm"},
  {"webp", "image/webp"},
  {"xls", "application/vnd.ms-excel"},
  {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
  {"xml", "application/xml"},
  {"zip", "application/zip"},
};


static int by_ext(const void *key, const void *entry) {
  return strcasecmp(key, *(const char *const *)entry);
}


const char *mc_mimetype_for(const char *filename) {
  const char *dot = filename ? strrchr(filename, '.') : NULL;
  if (dot == NULL || strchr(dot, '/') != NULL) return "application/octet-stream";
  const void *hit = bsearch(dot + 1, types, sizeof types / sizeof types[0],
                            sizeof types[0], by_ext);
  return hit ? ((const char *const *)hit)[1] : "application/octet-stream";
}
