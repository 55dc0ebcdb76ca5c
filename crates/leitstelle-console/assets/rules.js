// rules pages.
"use strict";
