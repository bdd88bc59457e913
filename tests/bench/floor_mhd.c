/* Floor A of the benchmark: the cheapest possible libmicrohttpd server, in assetd's threading
 * mode (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL with MHD_OPTION_THREAD_POOL_SIZE) and
 * with assetd's connection memory (MHD_OPTION_CONNECTION_MEMORY_LIMIT 16 KiB, api/server.c), that
 * answers every request with a fixed JSON body. It bounds what any handler on top of MHD can do,
 * in speed and in memory per connection.
 * Usage: floor_mhd PORT THREADS   (listens on 127.0.0.1; SIGTERM/SIGINT stop it)
 * Build: cc -O2 -std=c11 floor_mhd.c $(pkg-config --cflags --libs libmicrohttpd) -o floor_mhd */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* About the size of an attributes-only asset answer. */
static const char body[] =
    "{\"alias\":\"s000042\",\"accessibility\":\"DEVICE_FIRST_UNLOCKED\",\"requirePasswordSet\":"
    "false,"
    "\"authType\":\"NONE\",\"syncType\":[\"TRUSTED_DEVICE\"],\"isPersistent\":false,"
    "\"dataLabelNormal1\":\"grp-2\",\"requireAttrEncrypted\":false,\"wrapType\":\"NEVER\","
    "\"updateTime\":\"2024-01-01T00:00:00.000Z\"}";

static struct MHD_Response *resp;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (!*con_cls) { /* first call: headers only */
        *con_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_size) { /* discard any body */
        *upload_size = 0;
        return MHD_YES;
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, resp);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: floor_mhd PORT THREADS\n");
        return 2;
    }
    int port = atoi(argv[1]), threads = atoi(argv[2]);
    if (port <= 0 || port > 65535 || threads <= 0 || threads > 256) {
        fprintf(stderr, "floor_mhd: bad PORT or THREADS\n");
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by MHD's threads */
    signal(SIGPIPE, SIG_IGN);

    resp = MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return 1;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");

    struct sockaddr_in a4;
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &a4.sin_addr);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)port, NULL, NULL, on_request,
        NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a4, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024), MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "floor_mhd: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    fprintf(stderr, "floor_mhd: listening on 127.0.0.1:%d with %d threads\n", port, threads);
    int sig = 0;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    MHD_destroy_response(resp);
    return 0;
}
