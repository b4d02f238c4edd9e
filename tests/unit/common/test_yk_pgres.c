/* Unit suite for common/yk_pgres.c: every accessor on results built with libpq's own result
 * constructors (no server), on a failed statement and on NULL (connection lost). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <string.h>

#include "yk_pgres.h"

/* Two rows of (id text, n text, flag text); row 1 has NULL n. */
static PGresult *rows(void)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc cols[3] = {{.name = "id", .typid = 25, .typlen = -1},
                            {.name = "n", .typid = 25, .typlen = -1},
                            {.name = "flag", .typid = 25, .typlen = -1}};
    assert_true(PQsetResultAttrs(r, 3, cols));
    const char *v[2][3] = {{"a", "42", "t"}, {"b", NULL, "f"}};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            assert_true(PQsetvalue(r, i, j, (char *)v[i][j], v[i][j] ? (int)strlen(v[i][j]) : -1));
    return r;
}

static void tuples(void **state)
{
    yk_pgres *r = rows();
    assert_true(yk_pgres_ok(r));
    assert_int_equal(yk_pgres_rows(r), 2);
    assert_string_equal(yk_pgres_text(r, 0, 0), "a");
    assert_int_equal(yk_pgres_int(r, 0, 1, -1), 42);
    assert_true(yk_pgres_bool(r, 0, 2));
    assert_false(yk_pgres_bool(r, 1, 2));
    assert_true(yk_pgres_null(r, 1, 1));
    assert_string_equal(yk_pgres_text(r, 1, 1), "");
    assert_int_equal(yk_pgres_int(r, 1, 1, -1), -1);
    assert_int_equal(yk_pgres_int(r, 0, 0, -7), -7); /* not an integer */
    /* out of range reads as NULL */
    assert_true(yk_pgres_null(r, 2, 0));
    assert_true(yk_pgres_null(r, 0, 3));
    assert_true(yk_pgres_null(r, -1, 0));
    assert_string_equal(yk_pgres_text(r, 5, 5), "");
    assert_string_equal(yk_pgres_sqlstate(r), "");
    yk_pgres_free(r);
}

static void command_ok(void **state)
{
    yk_pgres *r = PQmakeEmptyPGresult(NULL, PGRES_COMMAND_OK);
    assert_true(yk_pgres_ok(r));
    assert_int_equal(yk_pgres_rows(r), 0);
    yk_pgres_free(r);
}

static void failed_and_null(void **state)
{
    yk_pgres *r = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
    assert_false(yk_pgres_ok(r));
    assert_int_equal(yk_pgres_rows(r), 0);
    assert_string_equal(yk_pgres_sqlstate(r), "");
    yk_pgres_free(r);
    assert_false(yk_pgres_ok(NULL));
    assert_int_equal(yk_pgres_rows(NULL), 0);
    assert_true(yk_pgres_null(NULL, 0, 0));
    assert_string_equal(yk_pgres_text(NULL, 0, 0), "");
    assert_string_equal(yk_pgres_error(NULL), "no result");
    assert_string_equal(yk_pgres_sqlstate(NULL), "");
    assert_false(yk_pgres_bool(NULL, 0, 0));
    yk_pgres_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tuples),
        cmocka_unit_test(command_ok),
        cmocka_unit_test(failed_and_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
