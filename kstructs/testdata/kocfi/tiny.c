int f(int x){return x+1;}
int g(int x){return f(x)*2;}
