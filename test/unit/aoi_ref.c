/*
 * aoi_ref.c - the brute-force reference that test_aoi.c and
 * fuzz/fuzz_aoi.c check lualib/src/aoi.c against (see aoi_ref.h).
 */
#include "aoi_ref.h"

#include <string.h>

#include "check.h"

struct aoi_ref_entity aoi_ref[AOI_REF_N + 1];
double aoi_ref_radius = 30;
long aoi_ref_applied[4];

#define R aoi_ref
#define N AOI_REF_N

void aoi_ref_reset(double radius) {
  memset(aoi_ref, 0, sizeof aoi_ref);
  aoi_ref_radius = radius;
}

int aoi_ref_sees(int a, int b) {
  double dx = R[a].x - R[b].x, dy = R[a].y - R[b].y;
  return a != b && R[a].alive && R[b].alive && dx * dx + dy * dy <= aoi_ref_radius * aoi_ref_radius;
}

uint64_t aoi_ref_be(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

float aoi_ref_bef(const unsigned char *p) {
  uint32_t u = (uint32_t)aoi_ref_be(p, 4);
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* Applies one watcher's records to its client view, checking each. */
static void apply(uint64_t w, const char *data, size_t len) {
  CHECK(w >= 1 && w <= N && R[w].alive && R[w].watcher);
  CHECK(len > 0 && len % SHOAL_AOI_RECORD_SIZE == 0);
  int last[N + 1]; /* the last kind of record about each subject in this batch */
  memset(last, 0, sizeof last);
  for (size_t off = 0; off < len; off += SHOAL_AOI_RECORD_SIZE) {
    const unsigned char *p = (const unsigned char *)data + off;
    int kind = p[0];
    uint64_t s = aoi_ref_be(p + 1, 8);
    CHECK(s >= 1 && s <= N && s != w);
    if (kind == SHOAL_AOI_ENTER) {
      CHECK(!R[w].seen[s]);
      R[w].seen[s] = 1;
    } else if (kind == SHOAL_AOI_MOVE) {
      CHECK(R[w].seen[s]);
      CHECK(last[s] != SHOAL_AOI_MOVE && last[s] != SHOAL_AOI_ENTER); /* coalesced */
    } else {
      CHECK(kind == SHOAL_AOI_LEAVE);
      CHECK(R[w].seen[s]);
      R[w].seen[s] = 0;
    }
    aoi_ref_applied[kind]++;
    R[w].sx[s] = aoi_ref_bef(p + 9);
    R[w].sy[s] = aoi_ref_bef(p + 13);
    last[s] = kind;
  }
}

void aoi_ref_flush_and_verify(struct shoal_aoi *a) {
  uint64_t w;
  const char *d;
  size_t n;
  while (shoal_aoi_take_events(a, &w, &d, &n)) apply(w, d, n);
  CHECK(shoal_aoi_pending(a) == 0);
  for (int i = 1; i <= N; i++) {
    if (!R[i].alive || !R[i].watcher) continue;
    for (int j = 1; j <= N; j++) {
      CHECK(R[i].seen[j] == aoi_ref_sees(i, j));
      if (R[i].seen[j]) {
        CHECK(R[i].sx[j] == (float)R[j].x);
        CHECK(R[i].sy[j] == (float)R[j].y);
      }
    }
  }
}

void aoi_ref_check_neighbours(struct shoal_aoi *a, int id) {
  uint64_t out[N];
  long n = shoal_aoi_neighbours(a, (uint64_t)id, out, N);
  if (!R[id].alive) {
    CHECK(n == -1);
    return;
  }
  long k = 0;
  for (int j = 1; j <= N; j++) {
    if (!aoi_ref_sees(id, j)) continue;
    CHECK(k < n && out[k] == (uint64_t)j); /* ascending */
    k++;
  }
  CHECK(k == n);
}

