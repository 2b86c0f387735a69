//! Result-set messages: RowDescription, DataRow and ParameterDescription.

use std::ops::Range;

use crate::message::reader::Reader;
use crate::message::{Format, Oid, Oids};
use crate::Error;

/// RowDescription (`'T'`): the columns of the rows that follow.
#[derive(Debug, Clone)]
pub struct RowDescription<'a> {
    /// The checked field descriptions.
    fields: Fields<'a>,
}

impl<'a> RowDescription<'a> {
    /// Parses a RowDescription body.
    pub fn parse(body: &'a [u8]) -> Result<RowDescription<'a>, Error> {
        let mut r = Reader::new(body, "RowDescription");
        let count = r.u16("field count")?;
        let start = r.clone();
        for _ in 0..count {
            read_field(&mut r)?;
        }
        let fields = Fields {
            rest: Reader::new(r.consumed_since(&start), "RowDescription"),
            left: count,
        };
        r.finish()?;
        Ok(RowDescription { fields })
    }

    /// The column descriptions, in order.
    pub fn fields(&self) -> Fields<'a> {
        self.fields.clone()
    }
}

/// One column of a [`RowDescription`]; the writer
/// [`row_description`](crate::message::write::backend::row_description) takes the same struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDescription<'a> {
    /// The column's name (its alias, if the query gave one).
    pub name: &'a str,
    /// The OID of the table the column comes from, or 0.
    pub table_oid: Oid,
    /// The column's attribute number in that table, or 0.
    pub column_id: i16,
    /// The OID of the column's data type.
    pub type_oid: Oid,
    /// `pg_type.typlen`: the type's size, negative for variable-width types.
    pub type_size: i16,
    /// `pg_attribute.atttypmod`: the type modifier, -1 if none.
    pub type_modifier: i32,
    /// The format the values will be sent in.
    pub format: Format,
}

/// Reads one field description.
fn read_field<'a>(r: &mut Reader<'a>) -> Result<FieldDescription<'a>, Error> {
    let name = r.cstr("field name")?;
    let table_oid = r.u32("table oid")?;
    let column_id = r.i16("column id")?;
    let type_oid = r.u32("type oid")?;
    let type_size = r.i16("type size")?;
    let type_modifier = r.i32("type modifier")?;
    let code = r.i16("format")?;
    let format = Format::from_code(code).ok_or_else(|| r.invalid("format", code.into()))?;
    Ok(FieldDescription {
        name,
        table_oid,
        column_id,
        type_oid,
        type_size,
        type_modifier,
        format,
    })
}

/// The column descriptions of a [`RowDescription`].
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    /// The checked descriptions not yet returned.
    rest: Reader<'a>,
    /// How many are left.
    left: u16,
}

impl<'a> Iterator for Fields<'a> {
    type Item = FieldDescription<'a>;

    fn next(&mut self) -> Option<FieldDescription<'a>> {
        self.left = self.left.checked_sub(1)?;
        read_field(&mut self.rest).ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::from(self.left);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Fields<'_> {}

/// DataRow (`'D'`): one result row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataRow<'a> {
    /// The whole checked body, so column ranges are relative to it.
    body: &'a [u8],
    /// How many columns the row has.
    len: u16,
}

impl<'a> DataRow<'a> {
    /// Parses a DataRow body, checking every column length.
    pub fn parse(body: &'a [u8]) -> Result<DataRow<'a>, Error> {
        let mut r = Reader::new(body, "DataRow");
        let len = r.u16("column count")?;
        for _ in 0..len {
            r.value("column")?;
        }
        r.finish()?;
        Ok(DataRow { body, len })
    }

    /// How many columns the row has.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Each column's position in the body, `None` for NULL. With the body as `Bytes`,
    /// `body.slice(range)` gives a column without copying.
    pub fn ranges(&self) -> DataRowRanges<'a> {
        DataRowRanges {
            body: self.body,
            pos: 2,
            left: self.len,
        }
    }

    /// Each column's value, `None` for NULL.
    pub fn values(&self) -> DataRowValues<'a> {
        DataRowValues {
            ranges: self.ranges(),
        }
    }

    /// The body the ranges refer to.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }
}

/// The column ranges of a [`DataRow`]; see [`DataRow::ranges`].
#[derive(Debug, Clone)]
pub struct DataRowRanges<'a> {
    /// The checked body.
    body: &'a [u8],
    /// Where the next column's length starts.
    pos: usize,
    /// How many columns are left.
    left: u16,
}

impl Iterator for DataRowRanges<'_> {
    type Item = Option<Range<usize>>;

    fn next(&mut self) -> Option<Option<Range<usize>>> {
        self.left = self.left.checked_sub(1)?;
        let start = self.pos.checked_add(4)?;
        let len = self.body.get(self.pos..start)?;
        let len = i32::from_be_bytes(<[u8; 4]>::try_from(len).ok()?);
        self.pos = start;
        if len < 0 {
            return Some(None);
        }
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.pos = end;
        Some(Some(start..end))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::from(self.left);
        (left, Some(left))
    }
}

impl ExactSizeIterator for DataRowRanges<'_> {}

/// The column values of a [`DataRow`]; see [`DataRow::values`].
#[derive(Debug, Clone)]
pub struct DataRowValues<'a> {
    /// The ranges, resolved against their body.
    ranges: DataRowRanges<'a>,
}

impl<'a> Iterator for DataRowValues<'a> {
    type Item = Option<&'a [u8]>;

    fn next(&mut self) -> Option<Option<&'a [u8]>> {
        match self.ranges.next()? {
            None => Some(None),
            Some(range) => self.ranges.body.get(range).map(Some),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ranges.size_hint()
    }
}

impl ExactSizeIterator for DataRowValues<'_> {}

/// ParameterDescription (`'t'`): the parameter types of a prepared statement.
#[derive(Debug, Clone)]
pub struct ParameterDescription<'a> {
    /// The parameter type OIDs.
    types: Oids<'a>,
}

impl<'a> ParameterDescription<'a> {
    /// Parses a ParameterDescription body.
    pub fn parse(body: &'a [u8]) -> Result<ParameterDescription<'a>, Error> {
        let mut r = Reader::new(body, "ParameterDescription");
        let count = r.u16("parameter count")?;
        let types = Oids::read(&mut r, count, "parameter types")?;
        r.finish()?;
        Ok(ParameterDescription { types })
    }

    /// The parameter type OIDs, in order.
    pub fn types(&self) -> Oids<'a> {
        self.types.clone()
    }
}
