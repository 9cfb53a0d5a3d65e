//! `xetfs serve`: a local Xet-enabled Hub (Hub API + CAS + transfer URLs) over a directory tree.
// SKELETON: to be written (issue 3).
