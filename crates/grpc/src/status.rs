//! gRPC status codes for what a node answers: the mapping the `.proto` file promises.

use tonic::Status;
use upstream::{BackendError, ClusterError};

/// The status for a Redis error reply (its text without the leading `-`).
pub fn from_reply(error: &str) -> Status {
    let code = error.split(' ').next().unwrap_or("");
    match code {
        "CLUSTERDOWN" | "LOADING" | "MASTERDOWN" | "TRYAGAIN" | "READONLY" | "MOVED" | "ASK" => {
            Status::unavailable(error)
        }
        "OOM" | "BUSY" => Status::resource_exhausted(error),
        "WRONGTYPE" => Status::failed_precondition(error),
        "NOAUTH" | "WRONGPASS" => Status::unauthenticated(error),
        "NOPERM" => Status::permission_denied(error),
        "ERR" if is_argument_error(error) => Status::invalid_argument(error),
        _ => Status::internal(error),
    }
}

/// Errors about what was asked, not about the node.
fn is_argument_error(error: &str) -> bool {
    [
        "invalid expire time",
        "syntax error",
        "value is not",
        "wrong number of arguments",
        "string exceeds maximum allowed size",
        "out of range",
    ]
    .iter()
    .any(|m| error.contains(m))
}

/// The status when the cluster could not be asked.
pub fn from_cluster(e: ClusterError) -> Status {
    match e {
        ClusterError::Protocol => Status::internal(e.to_string()),
        ClusterError::Backend(BackendError::Protocol(_)) => Status::internal(e.to_string()),
        _ => Status::unavailable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn codes_follow_the_proto_file() {
        assert_eq!(
            from_reply("CLUSTERDOWN Hash slot not served").code(),
            Code::Unavailable
        );
        assert_eq!(
            from_reply("LOADING Redis is loading").code(),
            Code::Unavailable
        );
        assert_eq!(
            from_reply("OOM command not allowed").code(),
            Code::ResourceExhausted
        );
        assert_eq!(
            from_reply("BUSY shedding load").code(),
            Code::ResourceExhausted
        );
        assert_eq!(
            from_reply("WRONGTYPE Operation against a key holding the wrong kind of value").code(),
            Code::FailedPrecondition
        );
        assert_eq!(
            from_reply("ERR invalid expire time in 'set' command").code(),
            Code::InvalidArgument
        );
        assert_eq!(
            from_reply("NOAUTH Authentication required.").code(),
            Code::Unauthenticated
        );
        assert_eq!(from_reply("ERR something odd").code(), Code::Internal);
        assert_eq!(
            from_cluster(ClusterError::Unreachable("x".into())).code(),
            Code::Unavailable
        );
        assert_eq!(from_cluster(ClusterError::Protocol).code(), Code::Internal);
    }
}
