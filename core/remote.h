/*
 * remote.h - the core side of cross-node messaging.
 *
 * A handle carries its node id in the high 8 bits. A message for another
 * node's handle is handed to the harbor service (cservice/harbor.c), which
 * owns the connections. This module keeps what the send path must know
 * without asking the harbor: which service is the harbor, the state of each
 * node as the harbor last reported it (so sends to a lost node fail at once)
 * and the bytes queued for each node (so a slow or silent peer gives the
 * sender an error instead of eating the node's memory).
 */
#ifndef SHOAL_REMOTE_H
#define SHOAL_REMOTE_H

#include <stdint.h>

#include "mq.h"

void shoal_remote_init(void);
/* Hands m to the harbor for handle's node. On success the payload belongs
 * to the harbor; on error (SHOAL_ENODEDOWN, SHOAL_EFULL) it is untouched. */
int shoal_remote_push(uint32_t handle, struct shoal_message *m);
/* The local harbor's handle, 0 when this node runs none. */
uint32_t shoal_remote_harbor(void);

#endif
