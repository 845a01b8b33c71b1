/* metrics (internal to libs/control): renders the registry for GET /metrics. */
#ifndef MAILSTACK_CONTROL_METRICS_H
#define MAILSTACK_CONTROL_METRICS_H

#include <event2/buffer.h>

void metrics_render(struct evbuffer *out);

#endif
