int tf_placeholder_tests_integration_test_docker_c;
int main(void) { return 0; }
