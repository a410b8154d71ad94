/* A string-keyed hash map that owns its keys; values are freed through the
 * map's callback when replaced or removed. */
#ifndef WS_STRMAP_H
#define WS_STRMAP_H

#include <stddef.h>

typedef struct ws_strmap ws_strmap;

ws_strmap *ws_strmap_new(void (*free_value)(void *));
void ws_strmap_free(ws_strmap *m);
void *ws_strmap_get(const ws_strmap *m, const char *key);
/* 0 on success, -1 when out of memory (the value is then freed). */
int ws_strmap_put(ws_strmap *m, const char *key, void *value);
void ws_strmap_remove(ws_strmap *m, const char *key);

#endif
