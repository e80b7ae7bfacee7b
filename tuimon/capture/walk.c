/* The record walk of tuimon/capture/reader.py and the fast rows of
 * tuimon/capture/vector.py, compiled, with a batch's grouping by conversation
 * (core/grouping.py) and the persistent index from conversation keys to slots of
 * core/slotindex.py: loaded with ctypes by tuimon/capture/cwalk.py (no Python headers),
 * which builds it with the system C compiler into the user's cache.
 *
 * Each walk function steps through a buffer from `pos`, one record or block at a time, with
 * exactly the stopping rules of the reader's Python walks (CaptureReader._walk_pcap and
 * _walk_pcapng, the reference), writes every record's offset into `offs` (at most `cap`
 * of them) and the position where the run ends into `*end`, and returns the count.
 * `big`: the file's lengths are big-endian. Lengths are read byte by byte: any host, any
 * alignment. Freestanding: no C library (stdint.h is the compiler's own).
 */
#include <stdint.h>

static uint32_t rd32(const unsigned char *p, int big)
{
    if (big)
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* pcapng: the enhanced packet blocks from `pos` on, up to the first other block, one of
 * an unsound length (under 32, over `max_block`, not a multiple of 4) or an incomplete one. */
int64_t tuimon_walk_pcapng(const unsigned char *buf, int64_t n, int64_t pos, int big,
                           int64_t max_block, int64_t *offs, int64_t cap, int64_t *end)
{
    int64_t k = 0;
    while (n - pos >= 12 && k < cap) {
        uint32_t btype = rd32(buf + pos, big);
        uint32_t blen = rd32(buf + pos + 4, big);
        if (btype != 6 || blen < 32 || blen > max_block || (blen & 3) || n - pos < blen)
            break;
        offs[k++] = pos;
        pos += blen;
    }
    *end = pos;
    return k;
}

/* pcap (lengths not swapped): the records from `pos` on, up to an incomplete one or one
 * whose captured length is over `limit` (the link type's longest record). */
int64_t tuimon_walk_pcap(const unsigned char *buf, int64_t n, int64_t pos, int big,
                         int64_t limit, int64_t *offs, int64_t cap, int64_t *end)
{
    int64_t k = 0;
    while (n - pos >= 16 && k < cap) {
        uint32_t incl = rd32(buf + pos + 8, big);
        if (incl > limit || n - pos - 16 < incl)
            break;
        offs[k++] = pos;
        pos += 16 + (int64_t)incl;
    }
    *end = pos;
    return k;
}

/* The fast rows of a batch: vector._fast_rows (and its _ipv4_rows, _ipv6_rows, _transport)
 * row for row, with the same checks. Rows `cand` are Ethernet frames starting at `st`
 * with `cap` bytes captured (at least 34): up to two VLAN tags, then IPv4 (any header
 * length; later fragments without ports) or IPv6 without extension headers, ports and
 * TCP flags for TCP and UDP. A fast row's columns are written at its row; every other
 * row is left as it is (a slow row, for the reader's decoder). Returns the fast rows. */
static inline int is_vlan(unsigned e) {
    return e == 0x8100 || e == 0x88A8 || e == 0x9100 || e == 0x9200;
}

static inline int v6_ext(unsigned nh) {
    return nh == 0 || nh == 43 || nh == 60 || nh == 135 || nh == 139 || nh == 140 ||
           nh == 253 || nh == 254 || nh == 51 || nh == 44;
}

static inline uint64_t be(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* One row's transport part; 1 when the row is fast (its columns written). */
static inline int transport(const uint8_t *t, int64_t avail, int64_t proto, int no_ports,
                            int64_t r, uint8_t *fast, uint8_t *ported, int64_t *protos,
                            int64_t *sport, int64_t *dport, int64_t *flags) {
    int tcp = !no_ports && proto == 6, udp = !no_ports && proto == 17;
    int has = (tcp && avail >= 14) || (udp && avail >= 4);
    if (!has && (tcp || udp)) return 0;
    fast[r] = 1;
    ported[r] = (uint8_t)has;
    protos[r] = proto;
    if (has) {
        sport[r] = t[0] << 8 | t[1];
        dport[r] = t[2] << 8 | t[3];
        flags[r] = tcp ? ((t[12] & 1) << 8 | t[13]) : 0;
    } else {
        sport[r] = dport[r] = flags[r] = 0;
    }
    return 1;
}

int64_t tuimon_fast_rows(const uint8_t *u8, const int64_t *cand, const int64_t *st,
                  const int64_t *cap, int64_t n, int64_t ipv4, int64_t ipv6,
                  uint8_t *fast, uint8_t *ported, int64_t *kind, int64_t *proto,
                  uint64_t *src, uint64_t *dst, uint64_t *src_hi, uint64_t *dst_hi,
                  int64_t *sport, int64_t *dport, int64_t *flags) {
    int64_t made = 0;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *f = u8 + st[i];
        int64_t r = cand[i];
        unsigned e0 = f[12] << 8 | f[13], e1 = f[16] << 8 | f[17], e2 = f[20] << 8 | f[21];
        int v0 = is_vlan(e0), v1 = is_vlan(e1);
        int tags = v0 ? (v1 ? 2 : 1) : 0;
        unsigned et = tags == 0 ? e0 : tags == 1 ? e1 : e2;
        if (v0 && v1 && is_vlan(e2)) continue;  /* a third tag: the decoder's */
        int64_t l3 = 14 + 4 * tags, room = cap[i] - l3;
        const uint8_t *h = f + l3;
        if (et == 0x0800 && room >= 20) {
            unsigned vhl = h[0];
            int64_t ihl = (vhl & 15) << 2;
            int64_t total = h[2] << 8 | h[3];
            unsigned frag = h[6] << 8 | h[7];
            if (!((vhl >> 4) == 4 && ihl >= 20 && (total == 0 || total >= ihl))) continue;
            int64_t end = (total > 0 && total < room) ? total : room;
            if (!transport(h + ihl, end - ihl, h[9], (frag & 0x1FFF) != 0, r, fast, ported,
                           proto, sport, dport, flags)) continue;
            kind[r] = ipv4;
            src[r] = be(h + 12, 4);
            dst[r] = be(h + 16, 4);
            made++;
        } else if (et == 0x86DD && room >= 40) {
            if ((h[0] >> 4) != 6 || v6_ext(h[6])) continue;
            int64_t plen = h[4] << 8 | h[5];
            int64_t end = (plen > 0 && 40 + plen < room) ? 40 + plen : room;
            if (!transport(h + 40, end - 40, h[6], 0, r, fast, ported, proto, sport, dport,
                           flags)) continue;
            kind[r] = ipv6;
            src_hi[r] = be(h + 8, 8);
            src[r] = be(h + 16, 8);
            dst_hi[r] = be(h + 24, 8);
            dst[r] = be(h + 32, 8);
            made++;
        }
    }
    return made;
}


/* A batch's fast rows grouped by conversation: core/grouping.conversations (numpy, the
 * reference: a stable sort on the canonical key) in one pass with a hash table. The rows
 * `rows_in` (m of them, ascending) are the batch's fast rows; the columns are the batch's.
 * A row's canonical key puts the lower address first (an IPv6 address compared high word
 * first; equal addresses: the lower port first), as the engine files conversations. Groups
 * are numbered in the order of their first row. Per group `g`: `gk[6g..6g+5]` = the key
 * word (IPv6 << 41 | proto << 33 | ported << 32 | low port << 16 | high port), the lower
 * and higher address (low 64 bits), their high 64 bits (IPv6), the first row; whether the
 * first packet came from the lower address; its time and the last; packets, bytes and TCP
 * flags from the lower address and from the higher. Then the rows a group at a time, in
 * batch order within each: rows_out[at[g]:at[g + 1]]. `table` (tmask + 1 slots, a power of
 * two at least 2m, every one -1) and `cursor` (m) are working memory. Returns the groups. */
static inline uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
    return h;
}

static inline uint64_t finish(uint64_t x) {
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDULL;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ULL;
    x ^= x >> 33;
    return x;
}

int64_t tuimon_group(const int64_t *rows_in, int64_t m, int64_t ipv6,
                     const int64_t *kind, const int64_t *proto, const uint8_t *ported,
                     const uint64_t *src, const uint64_t *dst, const uint64_t *src_hi,
                     const uint64_t *dst_hi, const int64_t *sport, const int64_t *dport,
                     const int64_t *wlen, const int64_t *flags, const double *ts,
                     int64_t *table, int64_t tmask, int64_t *gid, uint64_t *gk,
                     uint8_t *g_fwd, double *g_first, double *g_last,
                     int64_t *g_lo_p, int64_t *g_lo_b, int64_t *g_hi_p, int64_t *g_hi_b,
                     int64_t *g_lo_f, int64_t *g_hi_f, int64_t *at, int64_t *rows_out,
                     int64_t *cursor) {
    int64_t ng = 0;
    for (int64_t i = 0; i < m; i++) {
        int64_t r = rows_in[i];
        int six = kind[r] == ipv6, pt = ported[r] != 0;
        uint64_t s = src[r], d = dst[r];
        uint64_t sh = six ? src_hi[r] : 0, dh = six ? dst_hi[r] : 0;
        int64_t sp = sport[r], dp = dport[r];
        int above = sh > dh || (sh == dh && s > d);
        int same = sh == dh && s == d;
        int swap = above || (same && pt && sp > dp);
        uint64_t lo = swap ? d : s, hi = swap ? s : d;
        uint64_t loh = swap ? dh : sh, hih = swap ? sh : dh;
        uint64_t plo = (uint64_t)(swap ? dp : sp), phi = (uint64_t)(swap ? sp : dp);
        uint64_t k2 = (uint64_t)six << 41 | (uint64_t)proto[r] << 33 | (uint64_t)pt << 32 |
                      plo << 16 | phi;
        int64_t slot = (int64_t)(finish(mix(mix(mix(mix(k2, lo), hi), loh), hih)) &
                                 (uint64_t)tmask);
        int64_t g;
        for (;;) {
            g = table[slot];
            if (g < 0) {
                g = ng++;
                table[slot] = g;
                uint64_t *k = gk + 6 * g;
                k[0] = k2; k[1] = lo; k[2] = hi; k[3] = loh; k[4] = hih; k[5] = (uint64_t)r;
                g_fwd[g] = !swap;
                g_first[g] = g_last[g] = ts[r];
                g_lo_p[g] = g_lo_b[g] = g_hi_p[g] = g_hi_b[g] = g_lo_f[g] = g_hi_f[g] = 0;
                break;
            }
            const uint64_t *k = gk + 6 * g;
            if (k[0] == k2 && k[1] == lo && k[2] == hi && k[3] == loh && k[4] == hih) break;
            slot = (slot + 1) & tmask;
        }
        gid[i] = g;
        if (swap) {
            g_hi_p[g]++;
            g_hi_b[g] += wlen[r];
            g_hi_f[g] |= flags[r];
        } else {
            g_lo_p[g]++;
            g_lo_b[g] += wlen[r];
            g_lo_f[g] |= flags[r];
        }
        if (ts[r] > g_last[g]) g_last[g] = ts[r];
    }
    at[0] = 0;
    for (int64_t g = 0; g < ng; g++) {
        cursor[g] = at[g];
        at[g + 1] = at[g] + g_lo_p[g] + g_hi_p[g];
    }
    for (int64_t i = 0; i < m; i++) rows_out[cursor[gid[i]]++] = rows_in[i];
    return ng;
}


/* A persistent hash index from conversation keys to slots, for a columnar store of
 * conversations (core/slotindex.SlotIndex, which sizes and grows it). The store keeps each
 * conversation's key as five words in row `slot` of `keys` (C order, 5 words a row), laid
 * out as tuimon_group's first five words per group, and hashed as there. `table` has
 * tmask + 1 entries (a power of two), each a slot or -1 (empty): open addressing, linear
 * probing, removal by backward shift (no tombstones), so a probe ends at the first empty
 * entry. The callers keep the table at most half full: a probe always ends. */
static inline int64_t home(const uint64_t *k, int64_t tmask)
{
    return (int64_t)(finish(mix(mix(mix(mix(k[0], k[1]), k[2]), k[3]), k[4])) &
                     (uint64_t)tmask);
}

/* For each of the n query rows q[5i..5i+4]: out[i] = the slot whose key row equals it, or
 * -1. Returns how many were found. */
int64_t tuimon_index_find(const int64_t *table, int64_t tmask, const uint64_t *keys,
                          const uint64_t *q, int64_t n, int64_t *out)
{
    int64_t found = 0;
    for (int64_t i = 0; i < n; i++) {
        const uint64_t *x = q + 5 * i;
        int64_t pos = home(x, tmask), s;
        for (;;) {
            s = table[pos];
            if (s < 0)
                break;
            const uint64_t *k = keys + 5 * s;
            if (k[0] == x[0] && k[1] == x[1] && k[2] == x[2] && k[3] == x[3] && k[4] == x[4])
                break;
            pos = (pos + 1) & tmask;
        }
        out[i] = s < 0 ? -1 : s;
        found += s >= 0;
    }
    return found;
}

/* Enter the n slots `slots` (their key rows written in `keys`; absent from the table and
 * distinct, as the callers guarantee). */
void tuimon_index_insert(int64_t *table, int64_t tmask, const uint64_t *keys,
                         const int64_t *slots, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t pos = home(keys + 5 * slots[i], tmask);
        while (table[pos] >= 0)
            pos = (pos + 1) & tmask;
        table[pos] = slots[i];
    }
}

/* Take out the n slots `slots` (in the table; their key rows still in `keys`). Each
 * leaves no hole in a probe run: the entries after it that may sit earlier (their home
 * not cyclically in (hole, entry]) move back into the hole, and the hole moves on. */
void tuimon_index_remove(int64_t *table, int64_t tmask, const uint64_t *keys,
                         const int64_t *slots, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t s = slots[i], hole = home(keys + 5 * s, tmask);
        while (table[hole] != s) {
            if (table[hole] < 0)
                goto next;  /* not in the table: nothing to take out */
            hole = (hole + 1) & tmask;
        }
        for (int64_t j = (hole + 1) & tmask; table[j] >= 0; j = (j + 1) & tmask) {
            int64_t h = home(keys + 5 * table[j], tmask);
            if (((j - h) & tmask) >= ((j - hole) & tmask)) {
                table[hole] = table[j];
                hole = j;
            }
        }
        table[hole] = -1;
    next:;
    }
}

/* conversations.csv's lines (tuimon/sinks/csv.py, write_engine_conversations), formatted
 * from the store's columns: byte for byte what the csv module writes of the rows. Texts
 * come from a table made in Python (each entry already as the csv module writes it:
 * `texts[toff[i]:toff[i+1]]`): the protocol of row r is entry `proto_base + proto`, its
 * TCP flags entry `flags_base + flags` (TCP only; other protocols an empty cell), its
 * service, application and label source the entries `service[r]`, `app[r]`,
 * `app_src[r]`, and an IPv6 row's two addresses (lower, higher) entries `six[2r]`,
 * `six[2r+1]` (IPv4 addresses are written here). Rows are written from `r0` on while a
 * line of at most `maxrow` bytes still fits in `cap`; a row this function does not write
 * (a time before the epoch or past year 9999, flags past 9 bits, an IPv4 word wider than
 * 32 bits) stops it, with `*why` = 2 (1: the buffer is full, 0: all done). Returns the row
 * it stopped at; `*used` is the bytes written. */
static uint8_t *put_u64(uint8_t *o, uint64_t v)
{
    uint8_t tmp[20];
    int n = 0;
    do {
        tmp[n++] = (uint8_t)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *o++ = tmp[--n];
    return o;
}

static uint8_t *put_i64(uint8_t *o, int64_t v)
{
    if (v < 0) {
        *o++ = '-';
        return put_u64(o, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(o, (uint64_t)v);
}

static uint8_t *put_text(uint8_t *o, const uint8_t *texts, const int64_t *toff, int64_t i)
{
    for (int64_t j = toff[i]; j < toff[i + 1]; j++)
        *o++ = texts[j];
    return o;
}

static uint8_t *put_digits(uint8_t *o, int64_t v, int n)
{
    for (int k = n - 1; k >= 0; k--) {
        o[k] = (uint8_t)('0' + v % 10);
        v /= 10;
    }
    return o + n;
}

/* round(ts * 1e6) as Python rounds (half to even) into *us; 0 when out of range. */
static int micros(double ts, int64_t *us)
{
    double x = ts * 1000000.0;
    if (!(x >= 0.0 && x < 9.0e18))
        return 0;
    int64_t t = (int64_t)x;
    double f = x - (double)t;
    if (f > 0.5 || (f == 0.5 && (t & 1)))
        t++;
    *us = t;
    return 1;
}

/* ISO 8601 UTC with microseconds (tuimon.timefmt.iso_utc), years 1970-9999; NULL else. */
static uint8_t *put_time(uint8_t *o, double ts)
{
    int64_t us;
    if (!micros(ts, &us))
        return 0;
    int64_t sec = us / 1000000, micro = us % 1000000;
    if (sec >= 253402300800LL)  /* 10000-01-01 */
        return 0;
    int64_t days = sec / 86400, rest = sec % 86400;
    /* H. Hinnant's days-to-civil (days >= 0 here) */
    int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t day = doy - (153 * mp + 2) / 5 + 1;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (month <= 2);
    o = put_digits(o, year, 4);
    *o++ = '-';
    o = put_digits(o, month, 2);
    *o++ = '-';
    o = put_digits(o, day, 2);
    *o++ = 'T';
    o = put_digits(o, rest / 3600, 2);
    *o++ = ':';
    o = put_digits(o, rest / 60 % 60, 2);
    *o++ = ':';
    o = put_digits(o, rest % 60, 2);
    *o++ = '.';
    o = put_digits(o, micro, 6);
    *o++ = 'Z';
    return o;
}

static uint8_t *put_v4(uint8_t *o, uint64_t a)
{
    for (int k = 3; k >= 0; k--) {
        o = put_u64(o, a >> (8 * k) & 0xFF);
        if (k)
            *o++ = '.';
    }
    return o;
}

int64_t tuimon_csv_conversations(
    int64_t r0, int64_t n, const uint64_t *keys, const uint8_t *fwd, const int64_t *abp,
    const int64_t *abb, const int64_t *bap, const int64_t *bab, const double *first,
    const double *last, const int64_t *flags, const int64_t *service, const int64_t *app,
    const int64_t *app_src, const int64_t *six, const uint8_t *texts, const int64_t *toff,
    int64_t proto_base, int64_t flags_base, int64_t tail, uint8_t *out, int64_t cap,
    int64_t maxrow, int64_t *used, int64_t *why)
{
    uint8_t *o = out;
    int64_t r = r0;
    *why = 0;
    for (; r < n; r++) {
        if ((o - out) + maxrow > cap) {
            *why = 1;
            break;
        }
        const uint64_t *k = keys + 5 * r;
        uint64_t w0 = k[0];
        int v6 = w0 >> 41 & 1, ported = w0 >> 32 & 1, proto = w0 >> 33 & 0xFF;
        int64_t fl = flags[r];
        if ((!v6 && ((k[1] | k[2]) >> 32)) || (proto == 6 && (fl < 0 || fl > 511))) {
            *why = 2;
            break;
        }
        uint8_t *start = o;
        int a_lo = fwd[r] != 0;  /* A is the key's lower address */
        o = put_text(o, texts, toff, proto_base + proto);
        *o++ = ',';
        for (int end = 0; end < 2; end++) {  /* A, port A, then B, port B */
            int lo = end == 0 ? a_lo : !a_lo;
            if (v6)
                o = put_text(o, texts, toff, six[2 * r + (lo ? 0 : 1)]);
            else
                o = put_v4(o, lo ? k[1] : k[2]);
            *o++ = ',';
            if (ported)
                o = put_u64(o, lo ? (w0 >> 16 & 0xFFFF) : (w0 & 0xFFFF));
            *o++ = ',';
        }
        o = put_i64(o, abp[r]);
        *o++ = ',';
        o = put_i64(o, abb[r]);
        *o++ = ',';
        o = put_i64(o, bap[r]);
        *o++ = ',';
        o = put_i64(o, bab[r]);
        *o++ = ',';
        uint8_t *t1 = o;
        o = put_time(o, first[r]);
        if (!o) {
            o = start;
            *why = 2;
            break;
        }
        *o++ = ',';
        if (last[r] == first[r]) {
            int64_t m = o - 1 - t1;  /* the same text again */
            for (int64_t j = 0; j < m; j++)
                o[j] = t1[j];
            o += m;
        } else {
            o = put_time(o, last[r]);
            if (!o) {
                o = start;
                *why = 2;
                break;
            }
        }
        *o++ = ',';
        if (proto == 6)
            o = put_text(o, texts, toff, flags_base + fl);
        *o++ = ',';
        o = put_text(o, texts, toff, service[r]);
        *o++ = ',';
        o = put_text(o, texts, toff, app[r]);
        *o++ = ',';
        o = put_text(o, texts, toff, app_src[r]);
        o = put_text(o, texts, toff, tail);
    }
    *used = o - out;
    return r;
}
