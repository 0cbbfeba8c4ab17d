"""qupsample: quality-upsampling data-mixing configs for olmix."""
