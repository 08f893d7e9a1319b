// The wire enum (mamba_explain.v1) of each typed Activation and Precision, for both ends of the
// wire: the server's Header and ModelInfo (server/) and the client's requests (client/). The
// other direction, with its INVALID_ARGUMENT for values the server does not know, is part of
// the server's request conversion (server/proto_convert.h). Pure functions.
#ifndef MAMBA_EXPLAIN_PROTO_WIRE_ENUMS_H_
#define MAMBA_EXPLAIN_PROTO_WIRE_ENUMS_H_

#include "attribution/methods.h"
#include "common/precision.h"
#include "mamba_explain/v1/explain.pb.h"

namespace mamba_explain {

v1::Activation ActivationToProto(Activation a);
v1::Precision PrecisionToProto(Precision p);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_PROTO_WIRE_ENUMS_H_
