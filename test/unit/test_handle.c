/*
 * test_handle - the handle table and local names.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "handle.h"
#include "shoal.h"

static int dummy[100000];

static void test_register_remove(void) {
  shoal_handle_init(7);
  CHECK(shoal_handle_node() == 7);
  uint32_t h[1000];
  for (int i = 0; i < 1000; i++) {
    h[i] = shoal_handle_register(&dummy[i]);
    CHECK(h[i] != 0);
    CHECK((h[i] >> 24) == 7); /* node id in the high 8 bits */
    for (int j = 0; j < i; j++) CHECK(h[j] != h[i]);
  }
  CHECK(shoal_handle_count() == 1000);
  for (int i = 0; i < 1000; i++) {
    void *p = shoal_handle_lock_find(h[i]);
    shoal_handle_unlock();
    CHECK(p == &dummy[i]);
  }
  /* remove every other one; lookups of removed handles fail */
  for (int i = 0; i < 1000; i += 2) CHECK(shoal_handle_remove(h[i]) == &dummy[i]);
  CHECK(shoal_handle_remove(h[0]) == NULL);
  CHECK(shoal_handle_count() == 500);
  void *p = shoal_handle_lock_find(h[0]);
  shoal_handle_unlock();
  CHECK(p == NULL);
  /* new handles do not reuse the freed ones soon */
  uint32_t n = shoal_handle_register(&dummy[5000]);
  for (int i = 0; i < 1000; i++) CHECK(n != h[i]);
  uint32_t list[2000];
  int count = shoal_handle_list(list, 2000);
  CHECK(count == 501);
  for (int i = 1; i < count; i++) CHECK(list[i - 1] < list[i]);
  CHECK(shoal_handle_lock_find(0) == NULL);
  shoal_handle_unlock();
  shoal_handle_exit();
}

static void test_names(void) {
  shoal_handle_init(1);
  uint32_t a = shoal_handle_register(&dummy[1]);
  uint32_t b = shoal_handle_register(&dummy[2]);
  CHECK(shoal_handle_bindname(a, ".alpha") == 0);
  CHECK(shoal_handle_bindname(a, ".also_alpha") == 0);
  CHECK(shoal_handle_bindname(b, ".alpha") == SHOAL_ENAMEEXIST);
  CHECK(shoal_handle_bindname(b, "bad name") == SHOAL_EINVAL);
  CHECK(shoal_handle_bindname(b, ".") == SHOAL_EINVAL);
  CHECK(shoal_handle_bindname(0x02000005, ".remote_local") == SHOAL_EINVAL);
  CHECK(shoal_handle_bindname(0x01ffffff, ".ghost") == SHOAL_ENOSERVICE);
  CHECK(shoal_handle_findname(".alpha") == a);
  CHECK(shoal_handle_findname(".also_alpha") == a);
  CHECK(shoal_handle_findname(".beta") == 0);
  char hex[16];
  snprintf(hex, sizeof(hex), ":%08x", b);
  CHECK(shoal_handle_findname(hex) == b);
  CHECK(shoal_handle_findname(":zz") == 0);
  const char *names[4];
  CHECK(shoal_handle_names(a, names, 4) == 2);
  /* removing a handle removes its names */
  shoal_handle_remove(a);
  CHECK(shoal_handle_findname(".alpha") == 0);
  CHECK(shoal_handle_bindname(b, ".alpha") == 0);
  CHECK(shoal_handle_findname(".alpha") == b);
  shoal_handle_exit();
}

/* Names without the dot are cluster-global: they may name a handle of
 * another node and move when that node announces them again, but two live
 * local services cannot share one. */
static void test_global_names(void) {
  shoal_handle_init(1);
  uint32_t a = shoal_handle_register(&dummy[1]);
  uint32_t b = shoal_handle_register(&dummy[2]);
  CHECK(shoal_handle_bindname(a, "login") == 0);
  CHECK(shoal_handle_findname("login") == a);
  CHECK(shoal_handle_bindname(b, "login") == SHOAL_ENAMEEXIST);
  CHECK(shoal_handle_bindname(0x02000007, "db") == 0);
  CHECK(shoal_handle_findname("db") == 0x02000007);
  CHECK(shoal_handle_bindname(0x02000009, "db") == 0); /* node 2 restarted */
  CHECK(shoal_handle_findname("db") == 0x02000009);
  CHECK(shoal_handle_bindname(b, "db") == 0); /* now served here */
  CHECK(shoal_handle_findname("db") == b);
  CHECK(shoal_handle_bindname(0x01ffffff, "ghost") == SHOAL_ENOSERVICE);
  shoal_handle_exit();
}

/* Hostile: a peer announces a global name that a live local service holds
 * (the harbor binds what a NAME frame says). The announcement is refused and
 * the name keeps naming the local service; it stays refused on a repeat and
 * for any handle of that node. Once the local service is gone, the name is
 * free and a later announcement binds it. */
static void test_peer_cannot_steal_local_name(void) {
  shoal_handle_init(1);
  uint32_t db = shoal_handle_register(&dummy[1]);
  CHECK(shoal_handle_bindname(db, "db") == 0);
  uint32_t peer_db = shoal_handle_make(2, 5);
  CHECK(shoal_handle_bindname(peer_db, "db") == SHOAL_ENAMEEXIST);
  CHECK(shoal_handle_findname("db") == db);
  CHECK(shoal_handle_bindname(peer_db, "db") == SHOAL_ENAMEEXIST);
  CHECK(shoal_handle_bindname(shoal_handle_make(3, 9), "db") == SHOAL_ENAMEEXIST);
  CHECK(shoal_handle_findname("db") == db);
  const char *names[4];
  CHECK(shoal_handle_names(db, names, 4) == 1 && strcmp(names[0], "db") == 0);
  /* a peer's own names still move between its handles (it restarted) */
  CHECK(shoal_handle_bindname(shoal_handle_make(2, 7), "login") == 0);
  CHECK(shoal_handle_bindname(peer_db, "login") == 0);
  CHECK(shoal_handle_findname("login") == peer_db);
  /* the local service exits: its name leaves with it and is free again */
  CHECK(shoal_handle_remove(db) == &dummy[1]);
  CHECK(shoal_handle_findname("db") == 0);
  CHECK(shoal_handle_bindname(peer_db, "db") == 0);
  CHECK(shoal_handle_findname("db") == peer_db);
  shoal_handle_exit();
}

/* Concurrent register/lookup/remove from 4 threads, with the table growing. */
static void *churn(void *arg) {
  int base = (int)(intptr_t)arg;
  for (int round = 0; round < 20; round++) {
    uint32_t h[1000];
    for (int i = 0; i < 1000; i++) {
      h[i] = shoal_handle_register(&dummy[base + i]);
      CHECK(h[i] != 0);
    }
    for (int i = 0; i < 1000; i++) {
      void *p = shoal_handle_lock_find(h[i]);
      shoal_handle_unlock();
      CHECK(p == &dummy[base + i]);
    }
    for (int i = 0; i < 1000; i++) CHECK(shoal_handle_remove(h[i]) == &dummy[base + i]);
  }
  return NULL;
}

static void test_threads(void) {
  shoal_handle_init(1);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, churn, (void *)(intptr_t)(i * 1000));
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  CHECK(shoal_handle_count() == 0);
  shoal_handle_exit();
}

int main(void) {
  test_register_remove();
  test_names();
  test_global_names();
  test_peer_cannot_steal_local_name();
  test_threads();
  printf("test_handle: ok\n");
  return 0;
}
