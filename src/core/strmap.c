/* A small string-keyed hash map (strmap.h): a root's listings of its key
 * dirs by key (scan.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

typedef struct node {
  char *key;
  void *value;
  struct node *next;
} node;

struct ws_strmap {
  node **buckets;
  size_t nbuckets, size;
  void (*free_value)(void *);
};

static size_t hash(const char *s) {
  uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
  return (size_t)h;
}

ws_strmap *ws_strmap_new(void (*free_value)(void *)) {
  ws_strmap *m = calloc(1, sizeof *m);
  if (m == NULL) return NULL;
  m->nbuckets = 64;
  m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
  if (m->buckets == NULL) {
    free(m);
    return NULL;
  }
  m->free_value = free_value;
  return m;
}

static void free_node(ws_strmap *m, node *n) {
  if (m->free_value) m->free_value(n->value);
  free(n->key);
  free(n);
}

void ws_strmap_free(ws_strmap *m) {
  if (m == NULL) return;
  for (size_t i = 0; i < m->nbuckets; i++) {
    node *n = m->buckets[i];
    while (n) {
      node *next = n->next;
      free_node(m, n);
      n = next;
    }
  }
  free(m->buckets);
  free(m);
}

void *ws_strmap_get(const ws_strmap *m, const char *key) {
  for (node *n = m->buckets[hash(key) % m->nbuckets]; n; n = n->next)
    if (strcmp(n->key, key) == 0) return n->value;
  return NULL;
}

static void grow(ws_strmap *m) {
  size_t nb = m->nbuckets * 2;
  node **b = calloc(nb, sizeof *b);
  if (b == NULL) return; /* keep the old table: slower, still correct */
  for (size_t i = 0; i < m->nbuckets; i++) {
    node *n = m->buckets[i];
    while (n) {
      node *next = n->next;
      size_t j = hash(n->key) % nb;
      n->next = b[j];
      b[j] = n;
      n = next;
    }
  }
  free(m->buckets);
  m->buckets = b;
  m->nbuckets = nb;
}

int ws_strmap_put(ws_strmap *m, const char *key, void *value) {
  size_t i = hash(key) % m->nbuckets;
  for (node *n = m->buckets[i]; n; n = n->next) {
    if (strcmp(n->key, key) == 0) {
      if (n->value != value && m->free_value) m->free_value(n->value);
      n->value = value;
      return 0;
    }
  }
  node *n = malloc(sizeof *n);
  char *k = strdup(key);
  if (n == NULL || k == NULL) {
    free(n);
    free(k);
    if (m->free_value) m->free_value(value);
    return -1;
  }
  n->key = k;
  n->value = value;
  n->next = m->buckets[i];
  m->buckets[i] = n;
  if (++m->size > m->nbuckets) grow(m);
  return 0;
}

void ws_strmap_remove(ws_strmap *m, const char *key) {
  node **pp = &m->buckets[hash(key) % m->nbuckets];
  for (; *pp; pp = &(*pp)->next) {
    if (strcmp((*pp)->key, key) == 0) {
      node *n = *pp;
      *pp = n->next;
      free_node(m, n);
      m->size--;
      return;
    }
  }
}
