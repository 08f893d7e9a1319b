
m"latim-l2@M