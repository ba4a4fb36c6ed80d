# type: timer
# class: leak-r0
# why: movsx3264 of the context pointer sign-extends its low 32 bits into r0, which is returned
movsx3264 %r0, %r1
exit
