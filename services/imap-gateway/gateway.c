/* gateway: the process-wide settings behind gateway.h. */
#include "gateway.h"
#include "config/config.h"

struct gateway gateway;

void gateway_config_load(void)
{
    gateway.allow_plaintext_loopback = config_bool("MAILSTACK_ALLOW_PLAINTEXT_LOOPBACK", 0);
    gateway.max_line = config_size("MAILSTACK_IMAP_MAX_LINE", 64 * 1024);
    gateway.max_literal = config_size("MAILSTACK_MESSAGE_SIZE_LIMIT", 20L * 1024 * 1024);
    gateway.login_timeout_s = config_long("MAILSTACK_IMAP_LOGIN_TIMEOUT", 60);
    gateway.idle_timeout_s = config_long("MAILSTACK_IMAP_IDLE_TIMEOUT", 30 * 60);
    gateway.auth_throttle_ms = config_long("MAILSTACK_IMAP_AUTH_THROTTLE_MS", 2000);
    gateway.max_auth_failures = config_long("MAILSTACK_IMAP_MAX_AUTH_FAILURES", 3);
}
