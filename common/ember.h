#pragma once
// Everything a job author needs: #include "common/ember.h".

#include "common/broadcast.h"
#include "common/conf.h"
#include "common/dstream.h"
#include "common/errors.h"
#include "common/job.h"
#include "common/listener.h"
#include "common/object_file.h"
#include "common/rdd.h"
#include "common/receiver.h"
#include "common/show.h"
#include "common/streaming_context.h"
#include "common/text.h"
#include "common/time.h"
