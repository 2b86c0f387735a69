//! Message tag bytes, named after PostgreSQL's messages.
//!
//! Frontend and backend tags share byte values (`'C'` is Close from a client and CommandComplete
//! from a server), so each constant is named for the message, never for the letter. The startup
//! phase has no tags; its request codes are here too.

// Frontend (client to server) messages.

/// Bind: binds parameters to a prepared statement, creating a portal.
pub const BIND_TAG: u8 = b'B';
/// Close: closes a prepared statement or portal.
pub const CLOSE_TAG: u8 = b'C';
/// CopyData: a chunk of COPY data (also sent by the backend).
pub const COPY_DATA_TAG: u8 = b'd';
/// CopyDone: the end of COPY data (also sent by the backend).
pub const COPY_DONE_TAG: u8 = b'c';
/// CopyFail: the client aborts a COPY FROM STDIN.
pub const COPY_FAIL_TAG: u8 = b'f';
/// Describe: asks for the description of a prepared statement or portal.
pub const DESCRIBE_TAG: u8 = b'D';
/// Execute: runs a portal.
pub const EXECUTE_TAG: u8 = b'E';
/// Flush: asks the backend to send what it has buffered.
pub const FLUSH_TAG: u8 = b'H';
/// FunctionCall: the legacy fast-path function call.
pub const FUNCTION_CALL_TAG: u8 = b'F';
/// GSSResponse: a GSSAPI or SSPI token (shares its tag with the other `'p'` messages).
pub const GSS_RESPONSE_TAG: u8 = b'p';
/// Parse: creates a prepared statement.
pub const PARSE_TAG: u8 = b'P';
/// PasswordMessage: a cleartext or md5 password (shares its tag with the other `'p'` messages).
pub const PASSWORD_MESSAGE_TAG: u8 = b'p';
/// Query: a simple-protocol query string.
pub const QUERY_TAG: u8 = b'Q';
/// SASLInitialResponse: the first SASL message (shares its tag with the other `'p'` messages).
pub const SASL_INITIAL_RESPONSE_TAG: u8 = b'p';
/// SASLResponse: a later SASL message (shares its tag with the other `'p'` messages).
pub const SASL_RESPONSE_TAG: u8 = b'p';
/// Sync: ends an extended-protocol batch.
pub const SYNC_TAG: u8 = b'S';
/// Terminate: the client is closing the connection.
pub const TERMINATE_TAG: u8 = b'X';

// Backend (server to client) messages.

/// Authentication*: every authentication request and result.
pub const AUTHENTICATION_TAG: u8 = b'R';
/// BackendKeyData: the process id and secret key for CancelRequest.
pub const BACKEND_KEY_DATA_TAG: u8 = b'K';
/// BindComplete.
pub const BIND_COMPLETE_TAG: u8 = b'2';
/// CloseComplete.
pub const CLOSE_COMPLETE_TAG: u8 = b'3';
/// CommandComplete: a command finished, with its command tag.
pub const COMMAND_COMPLETE_TAG: u8 = b'C';
/// CopyBothResponse: the start of a streaming-replication COPY.
pub const COPY_BOTH_RESPONSE_TAG: u8 = b'W';
/// CopyInResponse: the start of COPY FROM STDIN.
pub const COPY_IN_RESPONSE_TAG: u8 = b'G';
/// CopyOutResponse: the start of COPY TO STDOUT.
pub const COPY_OUT_RESPONSE_TAG: u8 = b'H';
/// DataRow: one result row.
pub const DATA_ROW_TAG: u8 = b'D';
/// EmptyQueryResponse: the query string was empty.
pub const EMPTY_QUERY_RESPONSE_TAG: u8 = b'I';
/// ErrorResponse.
pub const ERROR_RESPONSE_TAG: u8 = b'E';
/// FunctionCallResponse: the result of a FunctionCall.
pub const FUNCTION_CALL_RESPONSE_TAG: u8 = b'V';
/// NegotiateProtocolVersion: the server supports an older minor version or lacks some options.
pub const NEGOTIATE_PROTOCOL_VERSION_TAG: u8 = b'v';
/// NoData: the statement returns no rows.
pub const NO_DATA_TAG: u8 = b'n';
/// NoticeResponse.
pub const NOTICE_RESPONSE_TAG: u8 = b'N';
/// NotificationResponse: a NOTIFY delivered to a LISTENing session.
pub const NOTIFICATION_RESPONSE_TAG: u8 = b'A';
/// ParameterDescription: the parameter types of a prepared statement.
pub const PARAMETER_DESCRIPTION_TAG: u8 = b't';
/// ParameterStatus: the value of a run-time parameter such as `client_encoding`.
pub const PARAMETER_STATUS_TAG: u8 = b'S';
/// ParseComplete.
pub const PARSE_COMPLETE_TAG: u8 = b'1';
/// PortalSuspended: Execute reached its row limit.
pub const PORTAL_SUSPENDED_TAG: u8 = b's';
/// ReadyForQuery: the backend is idle, with the transaction status.
pub const READY_FOR_QUERY_TAG: u8 = b'Z';
/// RowDescription: the columns of the rows that follow.
pub const ROW_DESCRIPTION_TAG: u8 = b'T';

// Startup-phase request codes (the untagged packets' second word).

/// The StartupMessage version word for protocol 3.0 (`3 << 16`).
pub const PROTOCOL_VERSION_3_0: i32 = 196_608;
/// The StartupMessage version word for protocol 3.2 (`3 << 16 | 2`, PostgreSQL 18): the same
/// messages as 3.0 but a variable-length secret key in BackendKeyData and CancelRequest. There
/// never was a 3.1.
pub const PROTOCOL_VERSION_3_2: i32 = 196_610;
/// SSLRequest's request code (`1234 << 16 | 5679`).
pub const SSL_REQUEST_CODE: i32 = 80_877_103;
/// GSSENCRequest's request code (`1234 << 16 | 5680`).
pub const GSSENC_REQUEST_CODE: i32 = 80_877_104;
/// CancelRequest's request code (`1234 << 16 | 5678`).
pub const CANCEL_REQUEST_CODE: i32 = 80_877_102;

/// The longest secret key BackendKeyData and CancelRequest may carry (protocol 3.2; 3.0's is
/// always 4 bytes, PostgreSQL 18 sends 32 to a 3.2 client).
pub const MAX_SECRET_KEY_LEN: usize = 256;
