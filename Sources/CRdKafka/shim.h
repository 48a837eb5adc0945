// librdkafka, including the in-process mock cluster used by the tests.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
