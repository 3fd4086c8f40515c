/* Content types guessed from file names. */
#ifndef MC_MIMETYPE_H
#define MC_MIMETYPE_H

/* The type for filename's extension (case-insensitive), or
 * "application/octet-stream" when it is unknown. Never NULL. */
const char *mc_mimetype_for(const char *filename);

#endif
