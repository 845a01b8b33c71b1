/* lmtpclient_test: the client against a scripted LMTP server thread (loopback TCP and a
 * UNIX socket): per-recipient replies, multi-line replies, dot-stuffing on the wire,
 * refusals at each step, a server dying mid-reply, a silent server, a refused connect. */
#include "lmtpclient/lmtpclient.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum fake_mode { FAKE_NORMAL, FAKE_REFUSE_MAIL, FAKE_REFUSE_DATA, FAKE_DIE_MIDWAY, FAKE_SILENT };

struct fake {
    int lfd;
    enum fake_mode mode;
    char mail[1024];
    int data_seen;
    char data[65536];  /* raw bytes after 354, final dot line included */
    size_t datalen;
    char rcpt[8][1024];
    int nrcpt;
};

static void fake_send(int fd, const char *s)
{
    if (write(fd, s, strlen(s)) < 0)
        return;
}

static int fake_line(int fd, char *line, size_t size)
{
    size_t n = 0;
    char c;
    while (read(fd, &c, 1) == 1) {
        if (c == '\n') {
            if (n && line[n - 1] == '\r')
                n--;
            line[n] = 0;
            return 0;
        }
        if (n + 1 < size)
            line[n++] = c;
    }
    return -1;
}

static void fake_data(struct fake *f, int fd)
{
    /* Read raw until <CRLF>.<CRLF>, the CRLF of the DATA line counting as the first. */
    char c;
    f->datalen = 0;
    while (read(fd, &c, 1) == 1 && f->datalen < sizeof(f->data)) {
        f->data[f->datalen++] = c;
        size_t n = f->datalen;
        if ((n == 3 && memcmp(f->data, ".\r\n", 3) == 0) ||
            (n >= 5 && memcmp(f->data + n - 5, "\r\n.\r\n", 5) == 0))
            return;
    }
}

static void *fake_serve(void *arg)
{
    struct fake *f = arg;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    char line[1024];
    if (f->mode == FAKE_SILENT) {
        while (read(fd, line, sizeof(line)) > 0)
            ;
        close(fd);
        return NULL;
    }
    fake_send(fd, "220-fake.test LMTP\r\n220 ready\r\n");
    while (fake_line(fd, line, sizeof(line)) == 0) {
        if (strncasecmp(line, "LHLO", 4) == 0) {
            fake_send(fd, "250-fake.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n"
                          "250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n");
        } else if (strncasecmp(line, "MAIL", 4) == 0) {
            snprintf(f->mail, sizeof(f->mail), "%s", line);
            fake_send(fd, f->mode == FAKE_REFUSE_MAIL ? "451 4.3.0 try later\r\n"
                                                      : "250 2.1.0 ok\r\n");
        } else if (strncasecmp(line, "RCPT", 4) == 0) {
            if (strstr(line, "nobody")) {
                fake_send(fd, "550 5.1.1 <nobody> unknown\r\n");
            } else {
                snprintf(f->rcpt[f->nrcpt++ % 8], sizeof(f->rcpt[0]), "%s", line);
                fake_send(fd, "250 2.1.5 ok\r\n");
            }
        } else if (strncasecmp(line, "DATA", 4) == 0) {
            f->data_seen = 1;
            if (f->mode == FAKE_REFUSE_DATA) {
                fake_send(fd, "554 5.3.0 no thanks\r\n");
                continue;
            }
            fake_send(fd, "354 go ahead\r\n");
            fake_data(f, fd);
            for (int i = 0; i < f->nrcpt; i++) {
                if (strstr(f->rcpt[i], "full"))
                    fake_send(fd, "452-4.2.2 mailbox\r\n452 4.2.2 full\r\n");
                else
                    fake_send(fd, "250 2.1.5 delivered\r\n");
                if (f->mode == FAKE_DIE_MIDWAY)
                    goto done;
            }
        } else if (strncasecmp(line, "QUIT", 4) == 0) {
            fake_send(fd, "221 2.0.0 bye\r\n");
            break;
        } else {
            fake_send(fd, "500 5.5.2 what\r\n");
        }
    }
done:
    close(fd);
    return NULL;
}

static int fake_listen_tcp(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    *port = ntohs(sa.sin_port);
    return fd;
}

/* Runs one delivery against a fresh fake server in `mode`. */
static int run(struct fake *f, enum fake_mode mode, const char *const *rcpts, size_t n,
               const char *msg, int timeout_ms, lmtp_reply_t *replies, char *err)
{
    memset(f, 0, sizeof(*f));
    f->mode = mode;
    int port;
    f->lfd = fake_listen_tcp(&port);
    CU_ASSERT_FATAL(f->lfd >= 0);
    pthread_t t;
    pthread_create(&t, NULL, fake_serve, f);
    int rc = lmtpclient_deliver("127.0.0.1", port, "edge.test", "sender@example.org", rcpts, n,
                                msg, strlen(msg), timeout_ms, replies, err, 256);
    pthread_join(t, NULL);
    close(f->lfd);
    return rc;
}

static struct fake fake;

static void test_per_recipient_replies_and_stuffing(void)
{
    const char *rcpts[] = {"a@store", "nobody@store", "full@store", "b+lists@store"};
    lmtp_reply_t replies[4];
    char err[256];
    const char *msg = ".starts with a dot\r\nmiddle\r\n.\r\n..two\r\nbare\n.lf\r\nno final crlf";
    int rc = run(&fake, FAKE_NORMAL, rcpts, 4, msg, 2000, replies, err);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(replies[0].code, 250);
    CU_ASSERT_STRING_EQUAL(replies[0].text, "2.1.5 delivered");
    CU_ASSERT_EQUAL(replies[1].code, 550);
    CU_ASSERT_STRING_EQUAL(replies[1].text, "5.1.1 <nobody> unknown");
    CU_ASSERT_EQUAL(replies[2].code, 452);
    CU_ASSERT_STRING_EQUAL(replies[2].text, "4.2.2 mailbox\n4.2.2 full");
    CU_ASSERT_EQUAL(replies[3].code, 250);
    const char *wire = "..starts with a dot\r\nmiddle\r\n..\r\n...two\r\nbare\n..lf\r\n"
                       "no final crlf\r\n.\r\n";
    CU_ASSERT_EQUAL(fake.datalen, strlen(wire));
    CU_ASSERT(fake.datalen == strlen(wire) && memcmp(fake.data, wire, fake.datalen) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(fake.mail, "MAIL FROM:<sender@example.org>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(fake.mail, "SIZE="));
    CU_ASSERT_PTR_NOT_NULL(strstr(fake.mail, "BODY=8BITMIME"));
    CU_ASSERT_STRING_EQUAL(fake.rcpt[2], "RCPT TO:<b+lists@store>");
}

static void test_refusals(void)
{
    const char *rcpts[] = {"nobody@store", "a@store"};
    lmtp_reply_t replies[2];
    char err[256];
    /* Nobody accepted: no DATA at all. */
    CU_ASSERT_EQUAL(run(&fake, FAKE_NORMAL, rcpts, 1, "x\r\n", 2000, replies, err), 0);
    CU_ASSERT_EQUAL(replies[0].code, 550);
    CU_ASSERT_FALSE(fake.data_seen);
    /* MAIL refused: every recipient gets that reply. */
    CU_ASSERT_EQUAL(run(&fake, FAKE_REFUSE_MAIL, rcpts, 2, "x\r\n", 2000, replies, err), 0);
    CU_ASSERT_EQUAL(replies[0].code, 451);
    CU_ASSERT_EQUAL(replies[1].code, 451);
    CU_ASSERT_STRING_EQUAL(replies[1].text, "4.3.0 try later");
    /* DATA refused: the accepted recipient gets it, the refused one keeps its RCPT reply. */
    CU_ASSERT_EQUAL(run(&fake, FAKE_REFUSE_DATA, rcpts, 2, "x\r\n", 2000, replies, err), 0);
    CU_ASSERT_EQUAL(replies[0].code, 550);
    CU_ASSERT_EQUAL(replies[1].code, 554);
}

static void test_server_dies_midway(void)
{
    const char *rcpts[] = {"a@store", "b@store", "c@store"};
    lmtp_reply_t replies[3];
    char err[256];
    CU_ASSERT_EQUAL(run(&fake, FAKE_DIE_MIDWAY, rcpts, 3, "x\r\n", 2000, replies, err), -1);
    CU_ASSERT_EQUAL(replies[0].code, 250);
    CU_ASSERT_EQUAL(replies[1].code, 0);
    CU_ASSERT_EQUAL(replies[2].code, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "connection lost"));
}

static void test_silent_server_times_out(void)
{
    const char *rcpts[] = {"a@store"};
    lmtp_reply_t replies[1];
    char err[256];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(run(&fake, FAKE_SILENT, rcpts, 1, "x\r\n", 300, replies, err), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CU_ASSERT(secs >= 0.29 && secs < 2.0);
    CU_ASSERT_EQUAL(replies[0].code, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "timeout"));
}

static void test_connect_refused(void)
{
    int port;
    int fd = fake_listen_tcp(&port);
    close(fd); /* nothing listens there now */
    const char *rcpts[] = {"a@store"};
    lmtp_reply_t replies[1] = {{42, "stale"}};
    char err[256];
    CU_ASSERT_EQUAL(lmtpclient_deliver("127.0.0.1", port, "edge", "s@x.y", rcpts, 1, "x", 1,
                                       1000, replies, err, sizeof(err)),
                    -1);
    CU_ASSERT_EQUAL(replies[0].code, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "connect"));
    CU_ASSERT_EQUAL(lmtpclient_deliver("/nonexistent/lmtp.sock", 0, "edge", "s@x.y", rcpts, 1,
                                       "x", 1, 1000, replies, err, sizeof(err)),
                    -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/lmtp.sock"));
}

static void test_unix_socket(void)
{
    char path[] = "/tmp/lmtpclient-test-XXXXXX";
    CU_ASSERT_FATAL(mkdtemp(path) != NULL);
    char sock[128];
    snprintf(sock, sizeof(sock), "%s/lmtp", path);
    memset(&fake, 0, sizeof(fake));
    fake.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strcpy(un.sun_path, sock);
    CU_ASSERT_FATAL(bind(fake.lfd, (struct sockaddr *)&un, sizeof(un)) == 0);
    listen(fake.lfd, 1);
    pthread_t t;
    pthread_create(&t, NULL, fake_serve, &fake);
    const char *rcpts[] = {"hurd@store"};
    lmtp_reply_t replies[1];
    char err[256];
    const char *msg = "Subject: u\r\n\r\nhi\r\n";
    CU_ASSERT_EQUAL(lmtpclient_deliver(sock, 0, "edge", "s@x.y", rcpts, 1, msg, strlen(msg),
                                       2000, replies, err, sizeof(err)),
                    0);
    pthread_join(t, NULL);
    close(fake.lfd);
    CU_ASSERT_EQUAL(replies[0].code, 250);
    CU_ASSERT_EQUAL(fake.datalen, strlen(msg) + 3); /* sent as is, then ".\r\n" */
    unlink(sock);
    rmdir(path);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"per-recipient replies and dot-stuffing", test_per_recipient_replies_and_stuffing},
        {"refusals at RCPT, MAIL and DATA", test_refusals},
        {"server dies between final replies", test_server_dies_midway},
        {"silent server times out", test_silent_server_times_out},
        {"connect refused", test_connect_refused},
        {"UNIX socket", test_unix_socket},
        {NULL, NULL},
    };
    return testkit_run("lmtpclient", cases);
}
