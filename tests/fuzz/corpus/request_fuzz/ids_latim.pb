
m"latim-l2