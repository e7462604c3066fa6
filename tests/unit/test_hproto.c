int tf_placeholder_tests_unit_test_hproto_c;
int main(void) { return 0; }
