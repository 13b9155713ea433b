//! Top singular values of a sparse biadjacency (see the spectral issue).
