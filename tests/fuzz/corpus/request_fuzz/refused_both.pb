
mx"latim-l2