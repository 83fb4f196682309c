//! The integration tests of islet live in `integration/` (one test binary);
//! this library is empty.
