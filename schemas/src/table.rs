//! [`table!`]: one declaration of a table gives its schema, its row type and its builder, so a
//! column is named, typed and documented in exactly one place.
//!
//! ```text
//! amt_schemas::table! {
//!     /// What the table holds.
//!     name: "notes", row: NoteRow, builder: NotesBuilder,
//!     columns: {
//!         /// Column documentation (also the Arrow field's description).
//!         dataset: Utf8,
//!         stem_id: Utf8 | null,
//!         pitch: UInt8,
//!     }
//! }
//! ```
//! Column types are Arrow type names: `Utf8` (`&str` in the row), `Boolean`, `UInt8`,
//! `UInt16`, `UInt32`, `UInt64`, `Int16`, `Int32`, `Int64`, `Float32`, `Float64`, and
//! `TimestampUsUtc` (microseconds since the epoch, UTC; `i64` in the row). `| null` makes a
//! column nullable (an `Option` in the row). Every table has at least one `Utf8` column (the
//! row borrows its strings).

/// Arrow type, Rust row type and Arrow builder of a column type name.
#[doc(hidden)]
#[macro_export]
macro_rules! __column {
    (data_type Utf8) => { $crate::__arrow::datatypes::DataType::Utf8 };
    (data_type TimestampUsUtc) => {
        $crate::__arrow::datatypes::DataType::Timestamp(
            $crate::__arrow::datatypes::TimeUnit::Microsecond,
            Some("UTC".into()),
        )
    };
    (data_type $t:ident) => { $crate::__arrow::datatypes::DataType::$t };

    (rust Utf8, $l:lifetime) => { &$l str };
    (rust Boolean, $l:lifetime) => { bool };
    (rust UInt8, $l:lifetime) => { u8 };
    (rust UInt16, $l:lifetime) => { u16 };
    (rust UInt32, $l:lifetime) => { u32 };
    (rust UInt64, $l:lifetime) => { u64 };
    (rust Int16, $l:lifetime) => { i16 };
    (rust Int32, $l:lifetime) => { i32 };
    (rust Int64, $l:lifetime) => { i64 };
    (rust Float32, $l:lifetime) => { f32 };
    (rust Float64, $l:lifetime) => { f64 };
    (rust TimestampUsUtc, $l:lifetime) => { i64 };

    (builder Utf8) => { $crate::__arrow::array::StringBuilder };
    (builder Boolean) => { $crate::__arrow::array::BooleanBuilder };
    (builder UInt8) => { $crate::__arrow::array::UInt8Builder };
    (builder UInt16) => { $crate::__arrow::array::UInt16Builder };
    (builder UInt32) => { $crate::__arrow::array::UInt32Builder };
    (builder UInt64) => { $crate::__arrow::array::UInt64Builder };
    (builder Int16) => { $crate::__arrow::array::Int16Builder };
    (builder Int32) => { $crate::__arrow::array::Int32Builder };
    (builder Int64) => { $crate::__arrow::array::Int64Builder };
    (builder Float32) => { $crate::__arrow::array::Float32Builder };
    (builder Float64) => { $crate::__arrow::array::Float64Builder };
    (builder TimestampUsUtc) => { $crate::__arrow::array::TimestampMicrosecondBuilder };

    (finish TimestampUsUtc, $b:expr) => { ::std::sync::Arc::new($b.finish().with_timezone("UTC")) };
    (finish $t:ident, $b:expr) => { ::std::sync::Arc::new($b.finish()) };

    (row_type $t:ident, $l:lifetime) => { $crate::__column!(rust $t, $l) };
    (row_type $t:ident, $l:lifetime null) => { Option<$crate::__column!(rust $t, $l)> };
    (nullable) => { false };
    (nullable null) => { true };
    (append $b:expr, $v:expr) => { $b.append_value($v) };
    (append $b:expr, $v:expr, null) => { $b.append_option($v) };
}

/// Declares a table: see the module documentation.
#[macro_export]
macro_rules! table {
    (
        $(#[$doc:meta])*
        name: $name:literal, row: $row:ident, builder: $builder:ident,
        columns: {
            $( $(#[doc = $cdoc:literal])* $col:ident : $ty:ident $(| $null:ident)? ),+ $(,)?
        }
    ) => {
        /// The table's name.
        pub const NAME: &str = $name;
        /// Column names, in schema order.
        pub const COLUMNS: &[&str] = &[$(stringify!($col)),+];

        static SCHEMA: ::std::sync::LazyLock<$crate::__arrow::datatypes::SchemaRef> =
            ::std::sync::LazyLock::new(|| {
                ::std::sync::Arc::new($crate::__arrow::datatypes::Schema::new(vec![$(
                    $crate::__arrow::datatypes::Field::new(
                        stringify!($col),
                        $crate::__column!(data_type $ty),
                        $crate::__column!(nullable $($null)?),
                    )
                ),+]))
            });

        /// The table's Arrow schema.
        pub fn schema() -> $crate::__arrow::datatypes::SchemaRef {
            SCHEMA.clone()
        }

        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $row<'a> {
            $( $(#[doc = $cdoc])* pub $col: $crate::__column!(row_type $ty, 'a $($null)?), )+
        }

        /// Collects rows into one record batch.
        #[derive(Default)]
        pub struct $builder {
            $( $col: $crate::__column!(builder $ty), )+
            rows: usize,
        }

        impl $builder {
            pub fn new() -> Self {
                Self::default()
            }

            pub fn push(&mut self, row: &$row<'_>) {
                $( $crate::__column!(append self.$col, row.$col $(, $null)?); )+
                self.rows += 1;
            }

            pub fn len(&self) -> usize {
                self.rows
            }

            pub fn is_empty(&self) -> bool {
                self.rows == 0
            }

            pub fn finish(mut self) -> $crate::__arrow::record_batch::RecordBatch {
                let columns: Vec<$crate::__arrow::array::ArrayRef> = vec![
                    $( $crate::__column!(finish $ty, self.$col) ),+
                ];
                $crate::__arrow::record_batch::RecordBatch::try_new(schema(), columns)
                    .expect("the builder's columns follow the declared schema")
            }
        }
    };
}
