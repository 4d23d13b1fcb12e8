//! Errors that stop a command, with a small closed set of codes.
//!
//! Expected outcomes of a sync (validation findings, a blocked threshold) are *not* errors: they
//! are data in the plan. An [`Error`] is what prevents the engine from doing what was asked at
//! all: a file that cannot be read, a busy repository, a bad argument. Its [`ErrorCode`] is what
//! the CLI turns into an exit status and what the app's UI branches on; the message is a
//! sentence for people and is never matched.

use std::fmt;
use std::path::Path;

use serde::Serialize;

/// The closed set of error codes. Add one only when a caller branches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The caller asked for something malformed (bad argument, unknown entity type).
    Usage,
    /// The input file has problems; nothing was applied.
    InvalidInput,
    /// A safety threshold blocks the change; nothing was applied.
    Blocked,
    /// The repository changed since the plan was built, or another process holds it.
    Busy,
    /// A file or repository the caller named does not exist.
    NotFound,
    /// The repository file is unusable: corrupt, not SQLite, too new, read-only, disk full.
    Repository,
    /// Reading or writing a file failed.
    Io,
    /// The operation was cancelled by the user.
    Cancelled,
    /// A bug: something the engine promises cannot happen did.
    Internal,
}

impl ErrorCode {
    /// The CLI exit status for this code (SPEC section 10).
    pub fn exit_status(self) -> i32 {
        match self {
            ErrorCode::InvalidInput => 1,
            ErrorCode::Usage | ErrorCode::NotFound => 2,
            ErrorCode::Blocked => 3,
            ErrorCode::Busy => 4,
            ErrorCode::Repository | ErrorCode::Io | ErrorCode::Cancelled | ErrorCode::Internal => 5,
        }
    }
}

/// An error with a code and a message written for the person who ran the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Error {
    /// What kind of failure, for programs.
    pub code: ErrorCode,
    /// What happened and what to do, for people.
    pub message: String,
}

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error { code, message: message.into() }
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::Usage, message)
    }

    /// An input error (the file has problems).
    pub fn invalid_input(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::InvalidInput, message)
    }

    /// An I/O error on a named file, phrased for people.
    pub fn io(path: &Path, action: &str, err: &std::io::Error) -> Error {
        let code = match err.kind() {
            std::io::ErrorKind::NotFound => ErrorCode::NotFound,
            _ => ErrorCode::Io,
        };
        let why = match err.kind() {
            std::io::ErrorKind::NotFound => "it does not exist".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission was denied".to_string(),
            _ => err.to_string(),
        };
        Error::new(code, format!("Could not {action} {}: {why}.", path.display()))
    }

    /// An internal error (a bug).
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::Internal, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<crate::schema::SchemaError> for Error {
    fn from(e: crate::schema::SchemaError) -> Error {
        Error::usage(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_follow_the_specification() {
        assert_eq!(ErrorCode::InvalidInput.exit_status(), 1);
        assert_eq!(ErrorCode::Usage.exit_status(), 2);
        assert_eq!(ErrorCode::Blocked.exit_status(), 3);
        assert_eq!(ErrorCode::Busy.exit_status(), 4);
    }

    #[test]
    fn io_errors_name_the_file_and_the_reason() {
        let e = Error::io(
            Path::new("/nope/x.xlsx"),
            "read",
            &std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(e.code, ErrorCode::NotFound);
        assert_eq!(e.message, "Could not read /nope/x.xlsx: it does not exist.");
    }

    #[test]
    fn errors_serialise_as_code_and_message() {
        let json = serde_json::to_string(&Error::usage("bad")).unwrap();
        assert_eq!(json, r#"{"code":"usage","message":"bad"}"#);
    }
}
