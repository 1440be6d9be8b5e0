/* LD_PRELOAD shim for the benchmark's Garage: sets TCP_NODELAY on every accepted socket.
 *
 * Garage writes a GET's response headers and body in two writes and leaves Nagle on, so on a
 * kept-alive connection the body of a small response waits for the client's delayed ACK:
 * about 40 ms per small GET on loopback, for every client alike. Real S3 does not stall like
 * that, so scripts/bench.sh runs Garage with this shim (BENCH_GARAGE_NODELAY=0 turns it off).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static void nodelay(int fd)
{
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on non-TCP */
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    static int (*real)(int, struct sockaddr *, socklen_t *, int);
    if (!real)
        real = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    int s = real(fd, addr, len, flags);
    nodelay(s);
    return s;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return accept4(fd, addr, len, 0);
}
