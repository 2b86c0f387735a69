//! The parser for `CREATE FOREIGN TABLE … SERVER s [OPTIONS (…)] WITH PUSHDOWN`.

use super::ast::CreateForeign;
use super::create::{if_not_exists, with_pushdown};
use super::elements::{generic_options, qualified_name, table_elements};
use super::error::DdlError;
use super::tokens::Tokens;
use crate::sql::Span;

/// Parses the statement from `CREATE` up to (not including) its `;`.
pub(crate) fn parse(t: &mut Tokens<'_>) -> Result<CreateForeign, DdlError> {
    let create = t.expect_kw("create")?;
    t.expect_kw("foreign")?;
    t.expect_kw("table")?;
    let if_not_exists = if_not_exists(t)?;
    let name = qualified_name(t)?;
    if let Some(partition) = t.peek().filter(|_| t.peek_kw("partition")) {
        return Err(DdlError::Unsupported {
            what: "WITH PUSHDOWN on CREATE FOREIGN TABLE … PARTITION OF (use the enhanced \
                   partition syntax on the parent)",
            position: partition.span.start as usize,
        });
    }
    let elements = table_elements(t)?;
    if let Some(inherits) = t.eat_kw("inherits") {
        return Err(DdlError::Unsupported {
            what: "WITH PUSHDOWN on a foreign table with INHERITS",
            position: inherits.span.start as usize,
        });
    }
    t.expect_kw("server")?;
    let server = t.col_id()?;
    let options = if t.peek_kw("options") {
        Some(generic_options(t)?)
    } else {
        None
    };
    let Some(pushdown) = with_pushdown(t)? else {
        return Err(t.error());
    };
    Ok(CreateForeign {
        span: Span::new(create.span.start, t.last_end()),
        if_not_exists,
        name,
        elements,
        server,
        options,
        pushdown,
    })
}
