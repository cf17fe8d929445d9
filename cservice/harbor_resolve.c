/*
 * harbor_resolve.c - one thread that resolves peer host names for the
 * harbor (see harbor_resolve.h). The harbor polls for the answer on its
 * tick; the thread and the harbor share one slot per node under a mutex.
 */
#include "harbor_resolve.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "harbor_int.h"

enum resolve_state { RS_IDLE, RS_WANTED, RS_RUNNING, RS_DONE, RS_FAILED };

struct resolve_slot {
  int state;      /* enum resolve_state */
  char host[64];  /* the name asked for */
  char addr[64];  /* RS_DONE: its numeric address */
  char err[96];   /* RS_FAILED: why */
};

struct harbor_resolver {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int released; /* the harbor let go: the thread frees the resolver */
  struct resolve_slot slots[MAX_NODE + 1];
};

int harbor_host_is_numeric(const char *host) {
  struct in6_addr a6;
  struct in_addr a4;
  return inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
}

static void lookup(const char *host, char *addr, size_t addrlen, char *err, size_t errlen) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int e = getaddrinfo(host, NULL, &hints, &res);
  addr[0] = '\0';
  if (e != 0) {
    snprintf(err, errlen, "%s", gai_strerror(e));
    return;
  }
  const void *a = res->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                                             : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
  if (inet_ntop(res->ai_family, a, addr, (socklen_t)addrlen) == NULL) {
    addr[0] = '\0';
    snprintf(err, errlen, "no usable address");
  }
  freeaddrinfo(res);
}

static void *resolver_main(void *arg) {
  struct harbor_resolver *r = arg;
  pthread_mutex_lock(&r->lock);
  while (!r->released) {
    int node = -1;
    for (int i = 0; i <= MAX_NODE && node < 0; i++)
      if (r->slots[i].state == RS_WANTED) node = i;
    if (node < 0) {
      pthread_cond_wait(&r->wake, &r->lock);
      continue;
    }
    struct resolve_slot *s = &r->slots[node];
    char host[sizeof(s->host)], addr[sizeof(s->addr)], err[sizeof(s->err)] = "";
    memcpy(host, s->host, sizeof(host));
    s->state = RS_RUNNING;
    pthread_mutex_unlock(&r->lock);
    lookup(host, addr, sizeof(addr), err, sizeof(err));
    pthread_mutex_lock(&r->lock);
    if (s->state == RS_RUNNING && strcmp(s->host, host) == 0) { /* not asked for another host meanwhile */
      s->state = addr[0] ? RS_DONE : RS_FAILED;
      memcpy(s->addr, addr, sizeof(addr));
      memcpy(s->err, err, sizeof(err));
    }
  }
  pthread_mutex_unlock(&r->lock);
  pthread_mutex_destroy(&r->lock);
  pthread_cond_destroy(&r->wake);
  shoal_free(r);
  return NULL;
}

struct harbor_resolver *harbor_resolver_new(void) {
  struct harbor_resolver *r = shoal_malloc(sizeof(*r));
  memset(r, 0, sizeof(*r));
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->wake, NULL);
  pthread_t t;
  if (pthread_create(&t, NULL, resolver_main, r) != 0) {
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    shoal_free(r);
    return NULL;
  }
  pthread_detach(t);
  return r;
}

void harbor_resolver_free(struct harbor_resolver *r) {
  if (r == NULL) return;
  pthread_mutex_lock(&r->lock);
  r->released = 1;
  pthread_cond_signal(&r->wake);
  pthread_mutex_unlock(&r->lock);
}

int harbor_resolver_get(struct harbor_resolver *r, int node, const char *host, char *addr, size_t addrlen, char *err,
                        size_t errlen) {
  if (r == NULL) {
    snprintf(err, errlen, "no resolver thread");
    return -1;
  }
  struct resolve_slot *s = &r->slots[node];
  int rc = 0;
  pthread_mutex_lock(&r->lock);
  if (strcmp(s->host, host) != 0 || s->state == RS_IDLE) {
    snprintf(s->host, sizeof(s->host), "%s", host);
    s->state = RS_WANTED;
    pthread_cond_signal(&r->wake);
  } else if (s->state == RS_DONE) {
    snprintf(addr, addrlen, "%s", s->addr);
    s->state = RS_IDLE;
    rc = 1;
  } else if (s->state == RS_FAILED) {
    snprintf(err, errlen, "%s", s->err);
    s->state = RS_IDLE;
    rc = -1;
  }
  pthread_mutex_unlock(&r->lock);
  return rc;
}
