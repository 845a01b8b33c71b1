/* config_test: CUnit tests for settings parsing (defaults, numbers, sizes, booleans, file). */
#include "config/config.h"
#include "log/log.h"

#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void test_defaults_and_numbers(void)
{
    unsetenv("MAILSTACK_T_X");
    CU_ASSERT_STRING_EQUAL(config_str("MAILSTACK_T_X", "d"), "d");
    setenv("MAILSTACK_T_X", "", 1);
    CU_ASSERT_STRING_EQUAL(config_str("MAILSTACK_T_X", "d"), "d");
    setenv("MAILSTACK_T_X", "42", 1);
    CU_ASSERT_EQUAL(config_long("MAILSTACK_T_X", 7), 42);
    setenv("MAILSTACK_T_X", "42abc", 1);
    CU_ASSERT_EQUAL(config_long("MAILSTACK_T_X", 7), 7);
    setenv("MAILSTACK_T_X", "70000", 1);
    CU_ASSERT_EQUAL(config_port("MAILSTACK_T_X", 25), 25);
    setenv("MAILSTACK_T_X", "2525", 1);
    CU_ASSERT_EQUAL(config_port("MAILSTACK_T_X", 25), 2525);
}

static void test_sizes_and_bools(void)
{
    setenv("MAILSTACK_T_S", "20m", 1);
    CU_ASSERT_EQUAL(config_size("MAILSTACK_T_S", 1), 20971520L);
    setenv("MAILSTACK_T_S", "100KB", 1);
    CU_ASSERT_EQUAL(config_size("MAILSTACK_T_S", 1), 102400L);
    setenv("MAILSTACK_T_S", "12", 1);
    CU_ASSERT_EQUAL(config_size("MAILSTACK_T_S", 1), 12L);
    setenv("MAILSTACK_T_S", "5x", 1);
    CU_ASSERT_EQUAL(config_size("MAILSTACK_T_S", 1), 1L);
    setenv("MAILSTACK_T_S", "-5", 1);
    CU_ASSERT_EQUAL(config_size("MAILSTACK_T_S", 1), 1L);
    setenv("MAILSTACK_T_B", "yes", 1);
    CU_ASSERT_EQUAL(config_bool("MAILSTACK_T_B", 0), 1);
    setenv("MAILSTACK_T_B", "off", 1);
    CU_ASSERT_EQUAL(config_bool("MAILSTACK_T_B", 1), 0);
    setenv("MAILSTACK_T_B", "maybe", 1);
    CU_ASSERT_EQUAL(config_bool("MAILSTACK_T_B", 1), 1);
}

static void test_file_does_not_override_env(void)
{
    char path[] = "/tmp/mailstack-config-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# comment\nMAILSTACK_T_F1=\"from file\"\nMAILSTACK_T_F2=file2\n", f);
    fclose(f);
    unsetenv("MAILSTACK_T_F1");
    setenv("MAILSTACK_T_F2", "env wins", 1);
    setenv("MAILSTACK_CONFIG_FILE", path, 1);
    CU_ASSERT_EQUAL(config_load(), 0);
    CU_ASSERT_STRING_EQUAL(config_str("MAILSTACK_T_F1", ""), "from file");
    CU_ASSERT_STRING_EQUAL(config_str("MAILSTACK_T_F2", ""), "env wins");
    unlink(path);
    CU_ASSERT_EQUAL(config_load(), -1);
    unsetenv("MAILSTACK_CONFIG_FILE");
}

static void test_lists_and_domains(void)
{
    setenv("MAILSTACK_DOMAIN", "example.test", 1);
    setenv("MAILSTACK_DOMAINS", " other.test ,Third.Example,", 1);
    CU_ASSERT_TRUE(config_is_local_domain("EXAMPLE.test"));
    CU_ASSERT_TRUE(config_is_local_domain("other.test"));
    CU_ASSERT_TRUE(config_is_local_domain("third.example"));
    CU_ASSERT_FALSE(config_is_local_domain("other.tes"));
    CU_ASSERT_FALSE(config_is_local_domain("yahoo.co.kr"));
    CU_ASSERT_FALSE(config_is_local_domain(""));
    CU_ASSERT_FALSE(config_list_has("MAILSTACK_DOMAINS", ""));
}

static void test_domain_bases(void)
{
    char base[128];
    unsetenv("MAILSTACK_LDAP_DOMAIN_BASES");
    CU_ASSERT_FALSE(config_domain_base("other.test", base, sizeof(base)));
    setenv("MAILSTACK_LDAP_DOMAIN_BASES",
           "other.test=ou=other,dc=example,dc=test; Third.Example = dc=third,dc=example ;x.test=",
           1);
    CU_ASSERT_TRUE(config_domain_base("other.test", base, sizeof(base)));
    CU_ASSERT_STRING_EQUAL(base, "ou=other,dc=example,dc=test");
    CU_ASSERT_TRUE(config_domain_base("third.example", base, sizeof(base)));
    CU_ASSERT_STRING_EQUAL(base, "dc=third,dc=example");
    CU_ASSERT_FALSE(config_domain_base("x.test", base, sizeof(base)));      /* empty base */
    CU_ASSERT_FALSE(config_domain_base("other.tes", base, sizeof(base)));
    CU_ASSERT_FALSE(config_domain_base("example.test", base, sizeof(base)));
    CU_ASSERT_FALSE(config_domain_base("other.test", base, 8));             /* too long */
    unsetenv("MAILSTACK_LDAP_DOMAIN_BASES");
}

int main(void)
{
    log_init("config_test");
    log_set_level(LOG_ERROR);
    static const testkit_case_t cases[] = {
        {"defaults and numbers", test_defaults_and_numbers},
        {"sizes and booleans", test_sizes_and_bools},
        {"file does not override env", test_file_does_not_override_env},
        {"lists and local domains", test_lists_and_domains},
        {"per-domain LDAP bases", test_domain_bases},
        {NULL, NULL},
    };
    return testkit_run("config", cases);
}
