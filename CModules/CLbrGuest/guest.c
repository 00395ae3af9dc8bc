/* guest payload lands here (issue 3) */
