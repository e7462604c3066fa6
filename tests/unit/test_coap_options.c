/* The CoAP code a function's status becomes: class and detail kept where
 * CoAP can carry them, never a shift or a truncation. */
#include "coap/coap_options.h"

#include "check.h"

static void test_status_keeps_class_and_detail(void)
{
    CHECK(tf_coap_code_of_status(200) == 205); /* Content: the body is the answer */
    CHECK(tf_coap_code_of_status(201) == 201);
    CHECK(tf_coap_code_of_status(204) == 204);
    CHECK(tf_coap_code_of_status(400) == 400);
    CHECK(tf_coap_code_of_status(404) == 404);
    CHECK(tf_coap_code_of_status(413) == 413);
    CHECK(tf_coap_code_of_status(431) == 431); /* the largest detail: five bits */
    CHECK(tf_coap_code_of_status(500) == 500);
    CHECK(tf_coap_code_of_status(504) == 504);
}

static void test_detail_past_five_bits_is_the_class(void)
{
    CHECK(tf_coap_code_of_status(232) == 205);
    CHECK(tf_coap_code_of_status(299) == 205);
    CHECK(tf_coap_code_of_status(432) == 400);
    CHECK(tf_coap_code_of_status(451) == 400);
    CHECK(tf_coap_code_of_status(599) == 500);
    CHECK(tf_coap_code_of_status(332) == 300);
}

static void test_outside_200_to_599_is_502(void)
{
    static const unsigned sent[] = {0, 1, 100, 199, 600, 3299, 3300, 65535, 4294967295u};
    for (size_t i = 0; i < sizeof sent / sizeof sent[0]; i++)
        CHECKF(tf_coap_code_of_status(sent[i]) == 502, "status %u gives %d", sent[i],
               tf_coap_code_of_status(sent[i]));
}

int main(void)
{
    test_status_keeps_class_and_detail();
    test_detail_past_five_bits_is_the_class();
    test_outside_200_to_599_is_502();
    return check_summary();
}
