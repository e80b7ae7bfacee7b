/* The record walk of tuimon/capture/reader.py, compiled: loaded with ctypes by
 * tuimon/capture/cwalk.py (no Python headers), which builds it with the system C compiler
 * into the user's cache.
 *
 * Each function steps through a buffer from `pos`, one record or block at a time, with
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
