/*
 * harbor_resolve.h - host names of peer nodes resolved off the harbor's
 * worker. getaddrinfo can block for seconds on a slow resolver; on the
 * harbor's worker that would stall every cross-node message and get every
 * peer declared lost. A numeric address needs no lookup and is used as is.
 */
#ifndef SHOAL_HARBOR_RESOLVE_H
#define SHOAL_HARBOR_RESOLVE_H

#include <stddef.h>

struct harbor_resolver;

/* A resolver with its own thread, or NULL when no thread can be started. */
struct harbor_resolver *harbor_resolver_new(void);
/* Lets go of r: the thread ends after the lookup it is in (never joined,
 * so a hung lookup cannot hang the node's shutdown) and frees r. */
void harbor_resolver_free(struct harbor_resolver *r);
/* Is host a numeric IPv4 or IPv6 address (no lookup needed)? */
int harbor_host_is_numeric(const char *host);
/* The numeric address of node's host. Returns 1 with the address in addr
 * (a lookup of this host finished), 0 while the lookup runs (it is started
 * on the first call; ask again later), -1 with the reason in err. Each
 * answer is handed out once, so every dial resolves afresh. */
int harbor_resolver_get(struct harbor_resolver *r, int node, const char *host, char *addr, size_t addrlen, char *err,
                        size_t errlen);

#endif
